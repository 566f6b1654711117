"""DuckDB over the Iceberg sink's tables, with the extensions from the pinned pip wheels (no download).

DuckDB's `iceberg` extension (it needs `avro` for manifests) ships in `duckdb-extension-iceberg` and
`duckdb-extension-avro` at exactly the DuckDB version; `connect()` loads both files by path with
autoinstall and autoload off, so a missing wheel is an error here, never a download at run time.
`iceberg_scan` reads a table from its current metadata file, which the SQL catalog names:

    con = connect()
    con.sql(f"select * from {scan(sink.current.open())}")
"""

from __future__ import annotations

from pathlib import Path

import duckdb
from pyiceberg.table import Table

# The avro extension must be loaded before iceberg, which reads manifests with it.
EXTENSION_WHEELS = (("avro", "duckdb_extension_avro"), ("iceberg", "duckdb_extension_iceberg"))


def extension_path(name: str, package: str) -> Path:
    """The `<name>.duckdb_extension` file the wheel `package` installed for this DuckDB version."""
    module = __import__(package)
    path = Path(module.__path__[0]) / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: install {package.replace('_', '-')}=={duckdb.__version__} (make install)"
        )
    return path


def connect(database: str = ":memory:") -> duckdb.DuckDBPyConnection:
    # Nothing is fetched: a query needing an extension that is not loaded here fails instead of downloading.
    config: dict[str, str | bool | int | float | list[str]] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    con = duckdb.connect(database, config=config)
    for name, package in EXTENSION_WHEELS:
        con.execute(f"LOAD '{extension_path(name, package)}'")
    return con


def scan(table: Table, snapshot_id: int | None = None) -> str:
    """An `iceberg_scan(...)` table expression for `table` at its current snapshot (or `snapshot_id`)."""
    location = table.metadata_location.replace("'", "''")
    version = "" if snapshot_id is None else f", snapshot_from_id => {int(snapshot_id)}"
    return f"iceberg_scan('{location}'{version})"
