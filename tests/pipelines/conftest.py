"""Fixtures of the flow and deployment tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pipelines.prefect_server import running_server


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A real `prefect server start` per test module, with its own database; yields the clients'
    environment (PREFECT_API_URL, PREFECT_HOME)."""
    yield from running_server(tmp_path_factory.mktemp("prefect-home"))
