"""The pipeline's stages, one module each, run by DVC as `python -m stages.<name>`. DVC shows
what a stage prints: TensorFlow's C++ start-up log is kept out of it."""

from alexnet_pipeline.core.tensorflow_startup import quiet_startup

quiet_startup()
