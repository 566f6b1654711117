"""DuckDB with the `delta` extension from the pinned duckdb-extension-delta wheel: nothing is downloaded.

Auto-install and auto-load are off, so a missing wheel fails here loudly instead of fetching an extension.
"""

from __future__ import annotations

from pathlib import Path

import duckdb


def connect() -> duckdb.DuckDBPyConnection:
    import duckdb_extension_delta

    version = duckdb.__version__
    extension = (
        Path(duckdb_extension_delta.__file__).parent / "extensions" / f"v{version}" / "delta.duckdb_extension"
    )
    if not extension.exists():
        raise RuntimeError(
            f"{extension} is missing: duckdb {version} needs duckdb-extension-delta=={version} (make install)"
        )
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    con.execute(f"LOAD '{extension}'")
    return con


def quote(literal: str) -> str:
    return "'" + literal.replace("'", "''") + "'"
