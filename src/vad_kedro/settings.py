"""Project settings (https://docs.kedro.org/en/stable/configure/configuration_basics/)."""

import warnings

from vad_kedro.core.runtime import shifted_seed
from vad_kedro.hooks import (BatchedMlflowHook, InterruptHook, NodeTimingHook, ParameterCheckHook, RunStartHook,
                             RunSummaryHook, RuntimeHook)

# Method namespaces ("rtfm.frame_scores") are deliberate dataset names; silence the generic advice.
warnings.filterwarnings("ignore", message="One or more dataset names contain '.'")
warnings.filterwarnings("ignore", message=".*Add type hints to the `predict` method.*")
warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated")

# pluggy calls the last registered hook first: RunStartHook checks and cleans up before the MLflow run starts.
HOOKS = (ParameterCheckHook(), RunSummaryHook(), InterruptHook(), RuntimeHook(), NodeTimingHook(), BatchedMlflowHook(),
         RunStartHook())
# kedro-mlflow's own hook instance is replaced by BatchedMlflowHook (same behaviour, batched parameter logging).
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow",)  # the distribution name as its metadata spells it

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # Environment files (conf/smoke, conf/local) only hold the keys that differ: deep-merge them.
    "merge_strategy": {"parameters": "soft", "catalog": "soft", "mlflow": "soft"},
    # `seed: ${shifted_seed:42}`: 42 plus VAD_SEED_OFFSET (default 0), to check results on other seeds.
    "custom_resolvers": {"shifted_seed": shifted_seed},
}
