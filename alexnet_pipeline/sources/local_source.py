"""`data.source: local`: the dataset folder or archive the user named, and a cheap fingerprint
of it (names, sizes, modification times) so that a change to it is noticed without reading it."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from alexnet_pipeline.config import LocalConfig
from alexnet_pipeline.errors import PipelineError


def local_source_path(local: LocalConfig) -> Path:
    """The absolute path of `data.local.path`, which must exist."""
    if not local.path:
        raise PipelineError("data.source is `local` but `data.local.path` is empty; "
                            "set it to a folder of <split>/<class>/<image> folders")
    path = Path(local.path).expanduser().resolve()
    if not path.exists():
        raise PipelineError(f"data.local.path: {path} does not exist; set it to your dataset "
                            "folder or a .zip/.tar archive of it")
    return path


def folder_fingerprint(path: Path) -> dict[str, Any]:
    """Count, total size and a hash of every file's relative path, size and mtime under `path`."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    total = 0
    for file in files:
        info = file.stat()
        total += info.st_size
        digest.update(f"{file.relative_to(path) if file != path else file.name}\0{info.st_size}\0"
                      f"{info.st_mtime_ns}\n".encode())
    return {"files": len(files), "bytes": total, "fingerprint": digest.hexdigest()}
