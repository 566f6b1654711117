"""DuckDB connections with the lake extensions loaded from their pinned pip wheels, never downloaded.

The `duckdb-extension-<name>` wheels (pinned with duckdb in requirements.lock) ship the signed extension
binary at `duckdb_extension_<name>/extensions/v<duckdb version>/<name>.duckdb_extension`; it is LOADed from
that path, and autoinstall/autoload are off so nothing is fetched from the network at run time.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path

import duckdb

from cdc_project.core.errors import ConfigError


def extension_path(name: str) -> Path:
    try:
        module = importlib.import_module(f"duckdb_extension_{name}")
    except ImportError:
        raise ConfigError(
            f"duckdb extension {name}",
            f"the duckdb-extension-{name} wheel is not installed; run `make install`",
        ) from None
    assert module.__file__ is not None
    path = Path(module.__file__).parent / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.exists():
        raise ConfigError(
            f"duckdb extension {name}",
            f"{path} is missing: pin duckdb-extension-{name} at duckdb's version {duckdb.__version__}",
        )
    return path


def connect(extensions: Sequence[str] = ("delta",), threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with `extensions` loaded, UTC session time zone."""
    conn = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    for name in extensions:
        conn.execute(f"LOAD '{extension_path(name)}'")
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("SET enable_progress_bar = false")
    if threads is not None:
        conn.execute(f"SET threads = {int(threads)}")
    return conn


class DuckDbRunner:
    """core/hash_sql queries against a DuckDB connection."""

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self.conn = conn

    def fetch(self, sql: str, params: Sequence[object]) -> list[tuple[object, ...]]:
        return self.conn.execute(sql, list(params)).fetchall()
