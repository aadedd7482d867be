"""The ``pg_url`` fixture: a throwaway PostgreSQL cluster per test module.

It skips, saying why, when the PostgreSQL server programs or psycopg are missing
(:func:`tests.support.services.postgres_cluster`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.services import postgres_cluster

__all__ = ["pg_url"]


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """The ``postgresql://`` URL of a cluster started for this module."""
    with postgres_cluster() as url:
        yield url
