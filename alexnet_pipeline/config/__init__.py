"""Typed, validated view of `params.yaml`: the schema (`schema`), its errors in params.yaml's
words (`messages`) and the YAML 1.2 reading (`loading`).

`load_params` turns the YAML into `Params`; unknown or missing keys, values of the wrong type or
out of range stop with one `ConfigError` that names every such key (e.g. `train.epochs`).
"""

from alexnet_pipeline.config.loading import load_params, params_from_dict
from alexnet_pipeline.config.schema import (
    MIN_IMAGE_SIZE,
    SAMPLE_CLASSES,
    BaseConfig,
    ClusterConfig,
    DataConfig,
    DriftConfig,
    EvaluateConfig,
    ExtractConfig,
    GateConfig,
    KaggleConfig,
    LocalConfig,
    ModelConfig,
    Params,
    PathsConfig,
    PlateauConfig,
    PreprocessConfig,
    ReportConfig,
    SampleConfig,
    TrainConfig,
    ValidateConfig,
)

__all__ = [
    "MIN_IMAGE_SIZE",
    "SAMPLE_CLASSES",
    "BaseConfig",
    "ClusterConfig",
    "DataConfig",
    "DriftConfig",
    "EvaluateConfig",
    "ExtractConfig",
    "GateConfig",
    "KaggleConfig",
    "LocalConfig",
    "ModelConfig",
    "Params",
    "PathsConfig",
    "PlateauConfig",
    "PreprocessConfig",
    "ReportConfig",
    "SampleConfig",
    "TrainConfig",
    "ValidateConfig",
    "load_params",
    "params_from_dict",
]
