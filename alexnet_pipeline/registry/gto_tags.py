"""Blessed versions as git tags in GTO's format: `alexnet@v2.0.0` registers the commit whose
dvc.lock records the blessed model, and `alexnet#production#N` assigns it the production stage.
`dvc artifacts get`, `gto show` and DVC Studio read the same tags."""

from __future__ import annotations

import logging
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from alexnet_pipeline.core.dvc_command import LOCK_FILE
from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.registry.blessed_store import read_blessed

log = logging.getLogger(__name__)
ARTIFACT = "alexnet"  # the model's name in dvc.yaml's `artifacts:`
PRODUCTION = "production"
IDENT = re.compile(r"(?P<name>.*) <(?P<email>[^>]*)> \d+ [+-]\d{4}")


class RegistryError(PipelineError):
    """The git repository cannot hold or answer for the registry's tags."""


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `git ARGS` in `repo` and return what it did; its exit status is the caller's to judge."""
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)


def _gto_call(action: str, call: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a GTO API call; its errors (no git repo, no commits, a bad version) become one message."""
    from gto.exceptions import ArtifactNotFound, GTOException
    from scmrepo.exceptions import SCMError

    try:
        return call(*args, **kwargs)
    except ArtifactNotFound:
        raise
    except (GTOException, SCMError) as exc:
        raise RegistryError(f"model registry: cannot {action}: {exc}") from None


def versions(repo: Path) -> list[dict[str, Any]]:
    """Registered versions, newest first: version, commit, created_at, and stages assigned now."""
    if not (repo / ".git").exists():
        return []
    from gto import api
    from gto.exceptions import ArtifactNotFound

    try:
        found = _gto_call("read the tags", api.show, str(repo), ARTIFACT, registered_only=True)
    except ArtifactNotFound:  # no tag names the artifact yet
        return []
    return [{"version": item["version"], "commit": item["commit_hexsha"],
             "created_at": str(item["created_at"]),
             "stages": sorted({stage["stage"] for stage in item["stages"]})} for item in found]


def _tagger(repo: Path) -> tuple[str, str]:
    """Who signs the tags: git's committer identity (config or GIT_COMMITTER_* variables)."""
    match = IDENT.match(_git(repo, "var", "GIT_COMMITTER_IDENT").stdout.strip())  # "" on failure
    if match is None:
        raise RegistryError("model registry: git has no identity to sign the tags with; set git's user.name "
                            "and user.email for the account that runs the pipeline")
    return match["name"], match["email"]


def _after_last_tag(repo: Path) -> None:
    """Wait, at most a second, until the clock is past the newest artifact tag's second: GTO orders
    stage assignments by their tags' time (whole seconds), so a tie could leave production on the
    older version."""
    newest = _git(repo, "for-each-ref", "--sort=-creatordate", "--count=1",
                  "--format=%(creatordate:unix)", f"refs/tags/{ARTIFACT}*").stdout.strip()
    if newest.isdigit():  # a tag dated ahead (another machine's clock) waits the second too
        time.sleep(min(1.0, max(0.0, int(newest) + 1 - time.time())))


def register(repo: Path, version: str, commit: str) -> bool:
    """Tag `commit` as `version` and assign it the production stage; False (and no change) when
    `version` is already registered."""
    from gto import api

    existing = {item["version"]: item for item in versions(repo)}
    if version in existing:
        log.info("%s@%s is already registered (commit %s)", ARTIFACT, version, existing[version]["commit"][:10])
        return False
    name, email = _tagger(repo)
    _after_last_tag(repo)
    _gto_call(f"register {version}", api.register, str(repo), ARTIFACT, commit, version=version,
              message=f"Blessed {ARTIFACT} {version}", author=name, author_email=email)
    assign_production(repo, version, f"{ARTIFACT} {version} is the {PRODUCTION} model")
    log.info("registered %s@%s on %s", ARTIFACT, version, commit[:10])
    return True


def assign_production(repo: Path, version: str, message: str) -> None:
    """Move the production stage to the registered `version` (a new `alexnet#production#N` tag),
    also back to a version that held it before (a rollback): the newest assignment wins."""
    from gto import api

    name, email = _tagger(repo)
    _after_last_tag(repo)
    _gto_call(f"assign {PRODUCTION} to {version}", api.assign, str(repo), ARTIFACT, PRODUCTION,
              version=version, message=message, force=True, author=name, author_email=email)
    log.info("stage %s now on %s@%s", PRODUCTION, ARTIFACT, version)


def register_blessed(repo: Path, blessed_folder: Path) -> tuple[str | None, bool]:
    """Register the blessed model in `blessed_folder` on HEAD, whose dvc.lock must record it;
    return its version (None: nothing blessed) and whether it was newly registered."""
    blessed = read_blessed(blessed_folder)
    if blessed is None:
        return None, False
    head = _git(repo, "rev-parse", "HEAD")
    if head.returncode != 0:
        raise RegistryError(f"model registry: {repo} has no commit to register the model on: {head.stderr.strip()}")
    if _git(repo, "diff", "--quiet", "HEAD", "--", LOCK_FILE).returncode:
        raise RegistryError(f"model registry: {LOCK_FILE} has changes that are not committed; "
                            f"commit it first (git commit {LOCK_FILE} ...), so that the version's "
                            "commit records the blessed model")
    version = blessed.version.version
    return version, register(repo, version, head.stdout.strip())


def resolve(repo: Path, wanted: str) -> str:
    """The registered version that `wanted` names: a version (v2.0.0, or 2), a stage (production)
    or `latest`."""
    registered = versions(repo)
    if not registered:
        raise RegistryError(f"model registry: no {ARTIFACT} version is registered in {repo}; "
                            "`alexnet models register` registers a committed blessed model")
    if wanted == "latest":
        return registered[0]["version"]
    for item in registered:
        if wanted in item["stages"]:
            return item["version"]
    name = f"v{wanted}.0.0" if wanted.isdigit() else wanted
    if any(item["version"] == name for item in registered):
        return name
    known = ", ".join(item["version"] for item in registered)
    raise RegistryError(f"model registry: no version {wanted!r}; registered: {known} (or a stage: {PRODUCTION})")


def fetch_version(repo: Path, version: str, into: Path, path: Path | None = None) -> Path:
    """Download the registered `version`'s blessed-model folder (or another DVC-tracked `path` at
    its commit, such as the serving model) from DVC's cache or remote, as `dvc artifacts get`
    does, into `into`; return `into`."""
    from dvc.api import DVCFileSystem, artifacts_show
    from dvc.exceptions import DvcException
    from dvc_data.index import DataIndexError

    what = f"{path} of {ARTIFACT}@{version}" if path else f"{ARTIFACT}@{version}"
    try:
        found = artifacts_show(ARTIFACT, version=version, repo=str(repo))
        source = path.as_posix() if path else found["path"]
        DVCFileSystem(str(repo), rev=found["rev"]).get(source, str(into), recursive=True)
    except (DvcException, DataIndexError, FileNotFoundError) as exc:
        raise RegistryError(f"model registry: cannot fetch {what}: {exc}; is its data in the DVC "
                            "cache or remote (dvc pull)?") from None
    return into
