"""The data layer folders of a project (``data/01_raw`` … ``data/08_reporting``, kept in git by ``.gitkeep``)."""

DATA_LAYERS = ("01_raw", "02_intermediate", "03_primary", "04_feature", "05_model_input", "06_models",
               "07_model_output", "08_reporting")
