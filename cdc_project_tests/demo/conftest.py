"""Fixtures of the demo shop tests: a real PostgreSQL database the tests may drop and recreate tables in.

CDC_TEST_SOURCE_DSN points the tests at a database of your own; otherwise they use the session's scratch
database on the local stack's cluster (`pg_source_dsn`), never the stack's live `shop` database.
"""

from __future__ import annotations

import os

import pytest

from cdc_project.demo.seed import SeedCounts, seed


@pytest.fixture(scope="session")
def source_dsn(request: pytest.FixtureRequest) -> str:
    dsn = os.environ.get("CDC_TEST_SOURCE_DSN")
    if dsn:
        return dsn
    return str(request.getfixturevalue("pg_source_dsn"))


@pytest.fixture()
def seeded_shop(source_dsn: str) -> SeedCounts:
    """A freshly seeded, small shop: every test that changes rows starts from the same state."""
    return seed(source_dsn, customers=60, products=20, orders=80, page_views=100, seed=11)
