"""Rollback: put a registered version back as the blessed and serving model, from its commit in
DVC's cache (or remote), move GTO's production stage to it and record why in the history. Every
check and download happens before anything changes: an unknown version, a missing artifact or
a missing git identity is an error that leaves the project as it was."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from alexnet_pipeline.core.contracts import HistoryEvent
from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.registry.blessed_store import read_blessed
from alexnet_pipeline.registry.gto_tags import (
    ARTIFACT,
    RegistryError,
    assign_production,
    fetch_version,
    resolve,
)
from alexnet_pipeline.registry.history import append_event, now_utc

log = logging.getLogger(__name__)


def _swap(new: Path, target: Path, old: Path) -> None:
    """Move `target` aside to `old` (if it exists) and `new` into its place."""
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)


def rollback(project: Path, blessed_folder: Path, serving_folder: Path, history_file: Path, wanted: str,
             reason: str) -> HistoryEvent:
    """Make the registered version `wanted` names the blessed and serving model again; the
    version it replaces is recorded, and the gate never promotes its weights again."""
    if not reason.strip():
        raise PipelineError("rollback: give the reason with --reason TEXT; it is kept in the model history")
    version = resolve(project, wanted)
    current = read_blessed(blessed_folder)
    if current is not None and current.version.version == version:
        raise RegistryError(f"model registry: {version} is the blessed model already; nothing to roll back")
    with tempfile.TemporaryDirectory(prefix=".rollback.", dir=project) as scratch_name:
        scratch = Path(scratch_name)
        blessed_new = fetch_version(project, version, scratch / "blessed")
        serving_new = fetch_version(project, version, scratch / "serving", serving_folder.relative_to(project))
        restored = read_blessed(blessed_new)
        if restored is None or restored.version.version != version:
            raise RegistryError(f"model registry: the commit of {ARTIFACT}@{version} holds no blessed model "
                                f"{version} in {blessed_folder.relative_to(project)}")
        moved: list[tuple[Path, Path]] = []
        try:
            for new, target in ((blessed_new, blessed_folder), (serving_new, serving_folder)):
                _swap(new, target, scratch / f"old-{target.name}")
                moved.append((target, scratch / f"old-{target.name}"))
            assign_production(project, version, f"rollback to {ARTIFACT} {version}: {reason}")
        except BaseException:
            for target, old in reversed(moved):  # put back what was serving
                shutil.rmtree(target)
                if old.exists():
                    os.replace(old, target)
            raise
    event = append_event(history_file, {
        "time": now_utc(), "event": "rollback", "outcome": "rolled back", "version": version,
        "serving_version": version, "data_fingerprint": restored.version.data_fingerprint,
        "accuracy": restored.version.accuracy, "weights_sha256": restored.version.weights_sha256,
        "replaced": current.version.version if current else None,
        "replaced_weights_sha256": current.version.weights_sha256 if current else None, "message": reason.strip()})
    log.info("rolled back to %s (was %s): %s", version, event.replaced or "nothing", reason)
    return event
