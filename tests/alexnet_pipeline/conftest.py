"""Quiet TensorFlow's C++ logging for the in-process tests (set before TensorFlow is imported)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
