"""source: write `paths.source`, what the configured data source is right now.

DVC runs this small stage every time (`always_changed`). `download` depends on its output,
so a new Kaggle dataset version or a changed local folder makes `download` rerun, while an
unchanged source leaves the file, and so every later stage, untouched.
"""

from __future__ import annotations

import logging
from typing import Any

from alexnet_pipeline.config import DataConfig, Params
from alexnet_pipeline.core.contracts import SourceRecord, write_contract
from alexnet_pipeline.core.stage_runner import run_stage
from alexnet_pipeline.sources.local_source import folder_fingerprint, local_source_path

log = logging.getLogger(__name__)


def describe_source(data: DataConfig) -> dict[str, Any]:
    """What identifies the current data: the generator, a folder fingerprint or a Kaggle version."""
    if data.source == "sample":
        return {"source": "sample"}
    if data.source == "local":
        path = local_source_path(data.local)
        return {"source": "local", "path": str(path), **folder_fingerprint(path)}
    from alexnet_pipeline.sources.kaggle_source import (
        resolve,  # the Kaggle client loads only when used
    )

    return resolve(data.kaggle)


def main(params: Params) -> None:
    """Describe the data source named in params.yaml into paths.source."""
    record = describe_source(params.data)
    write_contract(params.paths.source, SourceRecord, record)
    log.info("data source: %s", record)


if __name__ == "__main__":
    run_stage("source", main)
