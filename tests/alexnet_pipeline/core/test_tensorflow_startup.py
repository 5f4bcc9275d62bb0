"""TensorFlow's C++ start-up log is kept out of a command's output; anything else it writes is not."""

from __future__ import annotations

import sys
from pathlib import Path

from alexnet_pipeline.core.tensorflow_startup import kept_lines
from tests.helpers import run, subprocess_env

ONEDNN = ("I0000 00:00:1796449267.516336   26468 port.cc:153] oneDNN custom operations are on. You may see "
          "slightly different numerical results.\n")
NOTICE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
CPU = ("I0000 00:00:1796449267.555956   26468 cpu_feature_guard.cc:227] This TensorFlow binary is optimized.\n"
       "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the "
       "appropriate compiler flags.\n")


def test_startup_records_are_dropped_and_everything_else_kept() -> None:
    warning = "W0000 00:00:1796449267.6   26468 gpu_device.cc:2] Cannot dlopen some GPU libraries.\n"
    python_warning = "/x/site-packages/keras/src/a.py:3: UserWarning: something real\n"
    assert kept_lines(NOTICE + ONEDNN + warning + CPU + python_warning + ONEDNN) == warning + python_warning
    assert kept_lines("To enable the following instructions: is not a start-up record alone\n") != ""
    assert kept_lines("I0000 is not a record header\n") == "I0000 is not a record header\n"


def test_first_import_is_quiet_and_stderr_works_after_it(tmp_path: Path) -> None:
    """Without quiet_startup() the same import writes the oneDNN and CPU-feature records (one
    subprocess is what the suite can afford: the planted defect was checked by hand)."""
    env = subprocess_env()
    env.pop("TF_CPP_MIN_LOG_LEVEL")  # it does not stop absl's records before its initialisation
    code = ("import sys\nfrom alexnet_pipeline.core.tensorflow_startup import quiet_startup\n"
            "quiet_startup()\nimport keras\nimport tensorflow as tf\n"
            "tf.constant(1) + 1\nsys.stderr.write('after\\n')\n")
    assert run([sys.executable, "-c", code], cwd=tmp_path, env=env).stderr == "after\n"
