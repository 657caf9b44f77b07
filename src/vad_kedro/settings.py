"""Project settings (https://docs.kedro.org/en/stable/configure/configuration_basics/)."""

from vad_kedro.hooks import NodeTimingHook

HOOKS = (NodeTimingHook(),)

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # Environment files (conf/smoke, conf/local) only hold the keys that differ: deep-merge them.
    "merge_strategy": {"parameters": "soft", "catalog": "soft", "mlflow": "soft"},
}
