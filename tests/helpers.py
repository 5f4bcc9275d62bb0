"""The tests' one helper module (fixtures live in conftest.py): subprocesses, tiny projects, params
files, image files made with Pillow, archives and shards."""

from __future__ import annotations

import copy
import hashlib
import io
import os
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO_ROOT.parent / "shared" / "datasets"  # real photos beside the repo, when present
SHIPPED_PARAMS = REPO_ROOT / "params.yaml"
PROJECT_FILES = ["dvc.yaml", "params.yaml", "prefect.yaml", ".dvcignore", ".gitignore"]
PROJECT_DIRS = ["alexnet_pipeline", "stages", "pipelines", ".dvc"]
# Small enough for a CPU test run: 67 px is the smallest input AlexNet's pooling allows.
TINY_PARAMS = {
    ("base", "image_size"): 67,
    ("data", "sample", "train_per_class"): 8,
    ("data", "sample", "test_per_class"): 3,
    ("data", "sample", "min_side"): 64,
    ("data", "sample", "max_side"): 96,
    ("preprocess", "shard_size"): 10,
    ("train", "epochs"): 2,
    ("train", "batch_size"): 8,
    # above chance (1 in 4 classes): the tiny model (4 of 12 test images right) is judged by a real
    # threshold and blessed; a model that only guesses (3 of 12) is not
    ("gate", "min_accuracy"): 0.3,
}
_SHIPPED = yaml.safe_load(SHIPPED_PARAMS.read_text())


def shipped_params_dict() -> dict[str, Any]:
    """A fresh deep copy of the parsed params.yaml that ships with the project."""
    return copy.deepcopy(_SHIPPED)


def config_error_for(dotted: str, value: Any) -> str:
    """The ConfigError message of the shipped params with `dotted` set to `value`."""
    from alexnet_pipeline.config import params_from_dict
    from alexnet_pipeline.errors import ConfigError

    data = shipped_params_dict()
    set_key(data, dotted, value)
    with pytest.raises(ConfigError) as info:
        params_from_dict(data)
    return str(info.value)


def set_key(data: dict[str, Any], dotted: str, value: Any) -> None:
    """`set_key(d, "train.epochs", 3)` sets d["train"]["epochs"] = 3."""
    *parents, last = dotted.split(".")
    for key in parents:
        data = data[key]
    data[last] = value


def del_key(data: dict[str, Any], dotted: str) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        data = data[key]
    del data[last]


def params_dict_in(root: Path, **overrides: Any) -> dict[str, Any]:
    """The shipped params with every `paths:` entry inside `root`, plus dotted overrides
    (double underscores stand for dots: `validate__on_invalid="quarantine"`)."""
    data = shipped_params_dict()
    data["paths"] = {name: str(root / value) for name, value in data["paths"].items()}
    for key, value in overrides.items():
        set_key(data, key.replace("__", "."), value)
    return data


def write_params(root: Path, **overrides: Any) -> Path:
    """Write `root/params.yaml` (see `params_dict_in`) and return its path."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(params_dict_in(root, **overrides), sort_keys=False))
    return path


def noise_array(width: int, height: int, seed: int = 0, channels: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (height, width, channels) if channels > 1 else (height, width)
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


def write_image(path: Path, size: tuple[int, int] = (40, 40), fmt: str = "JPEG",
                mode: str = "RGB", seed: int = 0, **save_args: Any) -> Path:
    """A noise image of `size` (width, height) in `mode`, saved as `fmt` at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(noise_array(*size, seed=seed))
    if mode != "RGB":
        image = image.convert(mode)
    image.save(path, format=fmt, **save_args)
    return path


def write_truncated_jpeg(path: Path, size: tuple[int, int] = (64, 64), seed: int = 0) -> Path:
    """A JPEG whose header is intact but whose second half is missing."""
    buffer = io.BytesIO()
    Image.fromarray(noise_array(*size, seed=seed)).save(buffer, format="JPEG", quality=90)
    data = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[: len(data) // 2])
    return path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_digests(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under `root`."""
    return {str(p.relative_to(root)): sha256_of(p) for p in sorted(root.rglob("*")) if p.is_file()}


def subprocess_env() -> dict[str, str]:
    """This interpreter's bin first on PATH, quiet TensorFlow, no analytics."""
    return {**os.environ,
            "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
            "TF_CPP_MIN_LOG_LEVEL": "2", "GX_ANALYTICS_ENABLED": "false", "DVC_NO_ANALYTICS": "1"}


def run(args: list[str], cwd: Path, check: bool = True, timeout: float = 900,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a command in `cwd` with `subprocess_env()`; with `check`, a non-zero exit fails the
    test showing the command's whole output."""
    completed = subprocess.run(args, cwd=cwd, env=env or subprocess_env(), capture_output=True, text=True,
                               timeout=timeout, check=False)
    if check and completed.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} exited {completed.returncode}:\n{completed.stdout}\n{completed.stderr}")
    return completed


def set_params(project: Path, overrides: dict[tuple[str, ...], object]) -> None:
    """Change values of the project's params.yaml in place."""
    params_path = project / "params.yaml"
    params = yaml.safe_load(params_path.read_text())
    for keys, value in overrides.items():
        section = params
        for key in keys[:-1]:
            section = section[key]
        section[keys[-1]] = value
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))


def make_project(root: Path) -> Path:
    """Copy the project's code and pipeline into `root` as a fresh git repo with tiny params."""
    for name in PROJECT_DIRS:
        shutil.copytree(REPO_ROOT / name, root / name,
                        ignore=shutil.ignore_patterns("__pycache__", "cache", "tmp"))
    for name in PROJECT_FILES:
        shutil.copy2(REPO_ROOT / name, root / name)
    set_params(root, TINY_PARAMS)
    run(["git", "init", "-q"], root)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], root)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tiny project"], root)
    return root


def zip_bytes(members: dict[str, bytes]) -> bytes:
    """A deflated zip holding `members` ({name: content}), with fixed dates: byte-stable."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name, data in members.items():
            bundle.writestr(zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def jpeg_bytes(size: tuple[int, int] = (40, 40), seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(noise_array(*size, seed=seed)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def cat_and_dog_zip(per_class: int = 3, seed: int = 0, side: int = 40) -> bytes:
    """A tiny dataset archive in the layout of Kaggle's tongpython/cat-and-dog."""
    members = {}
    for split in ("training_set", "test_set"):
        for label in ("cats", "dogs"):
            for index in range(per_class):
                members[f"{split}/{split}/{label}/{label[:-1]}.{index}.jpg"] = jpeg_bytes(
                    (side, side), seed=seed * 1000 + index + 100 * len(split) + 10 * len(label))
    members["__MACOSX/training_set/._cats"] = b"junk"
    return zip_bytes(members)


def write_png_bomb(path: Path, side: int = 20_000) -> Path:
    """A valid 1-bit PNG of side x side pixels (400 Mpx by default) in about 50 KB: every row is
    zeros, so it compresses ~1000:1. Built row by row; the pixels are never held in memory."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    compressor = zlib.compressobj(9)
    row = b"\0" * (1 + (side + 7) // 8)  # filter byte + one bit per pixel
    compressed = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", compressed)
                     + chunk(b"IEND", b""))
    return path


def write_test_shards(folder: Path, split: str, images: list[tuple[Image.Image, int, str]],
                      shard_size: int, encoding: str = "jpeg", jpeg_quality: int = 95) -> list[str]:
    """Shards of (image, label, key) as preprocess writes them; returns the files in order."""
    from alexnet_pipeline.shards.images import encode_jpeg
    from alexnet_pipeline.shards.shard_format import encode_example, shard_name, write_shard

    folder.mkdir(parents=True, exist_ok=True)
    count = -(-len(images) // shard_size)
    paths = []
    for index in range(count):
        chunk = images[index * shard_size:(index + 1) * shard_size]
        records = [encode_example(encode_jpeg(image, jpeg_quality) if encoding == "jpeg" else image.tobytes(),
                                  label, key, hashlib.sha256(key.encode()).hexdigest(),
                                  image.height, image.width) for image, label, key in chunk]
        paths.append(str(write_shard(folder / shard_name(split, index, count), records)))
    return paths
