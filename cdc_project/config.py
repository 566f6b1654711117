"""The pipeline config: one YAML file naming sources, tables, keys, sinks, partitioning and schedules.

Validated with pydantic at load. Unknown keys and bad values are refused with a ConfigError naming the
dotted key and, for closed vocabularies, the valid values. `${VAR}` and `${VAR:-default}` are substituted
from the environment before validation; secrets are never values here, only the *names* of environment
variables (`password_env`), resolved when a connection is made.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import quote, urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cdc_project.core.errors import CdcError, ConfigError, MissingSecretError
from cdc_project.core.plans import declared_plan
from cdc_project.core.type_mapping import BinaryMode

SourceKind = Literal["postgres", "mysql", "mariadb", "mongodb", "cassandra"]
SinkKind = Literal["delta", "iceberg", "postgres"]
DeleteMode = Literal["hard", "soft"]
SchemaPolicy = Literal["evolve", "lenient", "strict"]
PartitionTransform = Literal["day", "month", "year", "identity"]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PartitionSpec(_Model):
    column: str
    transform: PartitionTransform = "day"


class ReconcileConfig(_Model):
    """Reconciliation of one table against each of its sinks (README "Reconciliation", docs/DESIGN.md)."""

    enabled: bool = True  # False: no schedule; the asset, check and `cdc reconcile` still work on demand
    cron: str = "0 * * * *"  # the table's schedule (UTC); hourly by default
    # drift_pct = differing keys / source rows * 100. The check warns above `warn_drift_pct` and fails
    # critically (blocking) at or above `critical_drift_pct`.
    warn_drift_pct: float = Field(default=0.0, ge=0)
    critical_drift_pct: float = Field(default=1.0, ge=0)
    # How long to wait for the sink to apply everything the capture published up to the source snapshot
    # before a candidate key can be judged, and how many snapshot rounds a changing key gets.
    catch_up_timeout_seconds: float = Field(default=180.0, gt=0)
    recheck_rounds: int = Field(default=3, ge=1)
    exclude_columns: list[str] = Field(default_factory=list)  # columns left out of the comparison

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        if len(value.split()) != 5 and not value.startswith("@"):
            raise ValueError(f"{value!r} is not a cron expression; use five fields such as '0 * * * *'")
        return value

    @model_validator(mode="after")
    def _ordered_thresholds(self) -> ReconcileConfig:
        if self.critical_drift_pct < self.warn_drift_pct:
            raise ValueError(
                f"critical_drift_pct {self.critical_drift_pct} is below warn_drift_pct {self.warn_drift_pct}"
            )
        return self


class TableConfig(_Model):
    """One captured table. `name` is `schema.table` (PostgreSQL/MySQL), `db.collection` or `keyspace.table`."""

    name: str
    primary_key: list[str] | None = None  # None: the source's key; [] declares a keyless, append-only table
    # Each sink keeps its own committed offsets and Dagster asset; the first also writes the changelog.
    sinks: list[SinkKind] = Field(default_factory=lambda: list[SinkKind](["delta"]), min_length=1)
    deletes: DeleteMode = "hard"
    schema_policy: SchemaPolicy = "evolve"
    partition_by: PartitionSpec | None = None
    tombstone_retention_hours: float = Field(default=168.0, gt=0)
    reconcile: ReconcileConfig = ReconcileConfig()
    # The table's declared schema, for topics written without schemas (JsonConverter schemas.enable=false):
    # column -> Connect type (`int64`), logical name (`io.debezium.time.MicroTimestamp`), `decimal(p,s)` or a
    # whole Connect field schema. Without it, schemaless values keep their JSON types (README "Decoding").
    # Messages that carry their schema ignore it.
    columns: dict[str, str | dict[str, Any]] | None = None

    @field_validator("name")
    @classmethod
    def _qualified(cls, value: str) -> str:
        if value.count(".") != 1 or not all(value.split(".")):
            raise ValueError(f"{value!r} must be qualified as schema.table (e.g. public.customers)")
        return value

    @field_validator("columns")
    @classmethod
    def _declared_types(cls, value: dict[str, str | dict[str, Any]] | None) -> dict[str, str | dict[str, Any]] | None:
        if value is not None:
            try:  # refused now, naming the column and the valid types, not at the first batch
                declared_plan(value, "bytes")
            except CdcError as exc:
                raise ValueError(f"{exc}; or declare it with a Connect type, logical name or decimal(p,s)") from exc
        return value

    @field_validator("sinks")
    @classmethod
    def _distinct_sinks(cls, value: list[SinkKind]) -> list[SinkKind]:
        if len(set(value)) != len(value):
            raise ValueError(f"{value} names a sink twice; list each sink once")
        return value

    @property
    def changelog_sink(self) -> SinkKind:
        """The sink whose storage holds the table's append-only changelog (written once, not per sink)."""
        return self.sinks[0]

    @property
    def schema_name(self) -> str:
        return self.name.split(".")[0]

    @property
    def table_name(self) -> str:
        return self.name.split(".")[1]

    @property
    def append_only(self) -> bool:
        return self.primary_key == []


class SourceConfig(_Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kind: SourceKind
    host: str
    port: int = Field(gt=0, lt=65536)
    database: str
    user: str
    password_env: str | None = None
    topic_prefix: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    # PostgreSQL: logical replication slot and publication, created by the stack (not autocreated)
    slot_name: str | None = None
    publication_name: str | None = None
    server_id: int | None = None  # MySQL/MariaDB binlog client id
    heartbeat_interval_ms: int = Field(default=10_000, ge=0)
    signal_table: str | None = None  # schema.table used for incremental snapshot signals
    # Debezium's binary.handling.mode for the relational connectors, written into the connector config and
    # used to decode: bytes (default) or base64/base64-url-safe/hex strings turned back into bytes.
    binary_handling_mode: BinaryMode = "bytes"
    tables: list[TableConfig]

    @model_validator(mode="after")
    def _unique_tables(self) -> SourceConfig:
        names = [t.name for t in self.tables]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"tables listed twice: {dupes}")
        if not self.tables:
            raise ValueError("a source needs at least one table")
        return self

    def password(self) -> str | None:
        if self.password_env is None:
            return None
        value = os.environ.get(self.password_env)
        if value is None:
            raise MissingSecretError(f"sources.{self.name}.password_env", self.password_env)
        return value

    @property
    def replication_slot(self) -> str:
        return self.slot_name or f"cdc_{self.name}"

    @property
    def publication(self) -> str:
        return self.publication_name or f"cdc_{self.name}"

    def published_tables(self) -> list[str]:
        """Captured tables plus the signal table: Debezium reads its snapshot watermarks back from the WAL."""
        tables = [t.name for t in self.tables]
        if self.signal_table is not None and self.signal_table not in tables:
            tables.append(self.signal_table)
        return tables

    def topic_for(self, table: TableConfig) -> str:
        """Debezium's topic naming: <topic.prefix>.<schema>.<table>."""
        return f"{self.topic_prefix}.{table.name}"


class KafkaConfig(_Model):
    bootstrap_servers: str
    partitions: int = Field(default=1, ge=1)
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    # Names of the environment variables holding the SASL credentials (read when a client connects).
    sasl_username_env: str | None = None
    sasl_password_env: str | None = None
    ssl_ca_file: str | None = None  # PEM bundle that signs the brokers' certificates (SSL, SASL_SSL)
    # Kafka Connect's REST API, asked by the capture-health check about each connector (defs/capture/).
    # None: $CDC_CONNECT_URL, which the local stack exports to its processes (settings.service_env).
    connect_url: str | None = None

    @field_validator("connect_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        try:
            parts.port  # noqa: B018 (urllib checks the port only when asked)
        except ValueError:
            raise ValueError(f"{value!r} has no valid port; use e.g. http://connect:8083") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL; use e.g. http://connect:8083")
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not hold credentials: secrets are never config values")
        if parts.query or parts.fragment:
            raise ValueError(f"{value!r} has a query or fragment; give the REST API's base URL")
        return value

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> KafkaConfig:
        if self.security_protocol.startswith("SASL"):
            for key in ("sasl_username_env", "sasl_password_env"):
                if getattr(self, key) is None:
                    raise ValueError(
                        f"{key} is required with security_protocol {self.security_protocol}: name the "
                        "environment variable that holds it"
                    )
        return self


class LakeConfig(_Model):
    root: str  # a local path or s3://bucket/prefix
    dead_letter_table: str = "_dead_letters"
    storage_options: dict[str, str] = Field(default_factory=dict)  # non-secret options only
    storage_secret_envs: dict[str, str] = Field(default_factory=dict)  # option name -> env var

    @field_validator("storage_options")
    @classmethod
    def _no_secrets(cls, value: dict[str, str]) -> dict[str, str]:
        secretish = sorted(k for k in value if re.search(r"secret|password|token|key_id|access_key", k, re.I))
        if secretish:
            raise ValueError(f"{secretish} look like secrets; move them to storage_secret_envs (option: ENV_VAR)")
        return value

    def resolved_storage_options(self) -> dict[str, str]:
        options = dict(self.storage_options)
        for option, env_var in self.storage_secret_envs.items():
            value = os.environ.get(env_var)
            if value is None:
                raise MissingSecretError(f"lake.storage_secret_envs.{option}", env_var)
            options[option] = value
        return options


class IcebergConfig(_Model):
    """Where Iceberg sink tables live. Defaults: a SQLite SQL catalog and a warehouse under `lake.root`.

    Production points `catalog_uri` at PostgreSQL (`postgresql+psycopg2://user@host/db`, the password from
    `catalog_password_env`) and `warehouse` at `s3://...`.
    """

    catalog_name: str = Field(default="cdc", pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    catalog_uri: str | None = None  # None: sqlite:///{lake.root}/_iceberg/catalog.db
    catalog_password_env: str | None = None
    warehouse: str | None = None  # None: {lake.root}/_iceberg/warehouse

    def resolved_catalog_uri(self, lake_root: str) -> str:
        if self.catalog_uri is None:
            return f"sqlite:///{lake_root.rstrip('/')}/_iceberg/catalog.db"
        if self.catalog_password_env is None:
            return self.catalog_uri
        password = os.environ.get(self.catalog_password_env)
        if password is None:
            raise MissingSecretError("iceberg.catalog_password_env", self.catalog_password_env)
        scheme, sep, rest = self.catalog_uri.partition("://")
        user, at, host = rest.partition("@")
        if not (sep and at):
            raise ConfigError("iceberg.catalog_uri", "must look like scheme://user@host/db to take a password")
        return f"{scheme}://{user}:{quote(password, safe='')}@{host}"

    def resolved_warehouse(self, lake_root: str) -> str:
        return self.warehouse or f"{lake_root.rstrip('/')}/_iceberg/warehouse"


class PostgresSinkConfig(_Model):
    """The PostgreSQL database replicas are written to. Table `schema.table` of source `s` lands in
    `{schema_prefix}{s}_{schema}.{table}` (e.g. `shop_public.customers`)."""

    host: str
    port: int = Field(default=5432, gt=0, lt=65536)
    database: str
    user: str
    password_env: str | None = None
    schema_prefix: str = Field(default="", pattern=r"^[a-z0-9_]*$")

    def password(self) -> str | None:
        if self.password_env is None:
            return None
        value = os.environ.get(self.password_env)
        if value is None:
            raise MissingSecretError("postgres_sink.password_env", self.password_env)
        return value


class IngestConfig(_Model):
    sensor_interval_seconds: int = Field(default=5, ge=1)
    max_batch_events: int = Field(default=200_000, ge=1)
    fetch_timeout_seconds: float = Field(default=10.0, gt=0)
    # After its planned range, a run goes on applying what arrived meanwhile, batch after batch (each its
    # own commit with its offsets), until it is caught up or this long has passed; then the sensor takes
    # over again. 0: one range per run. Saves the sensor tick and run launch between batches of a busy topic.
    follow_seconds: float = Field(default=0.0, ge=0)


class PipelineConfig(_Model):
    version: Literal[1] = 1
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kafka: KafkaConfig
    lake: LakeConfig
    ingest: IngestConfig = IngestConfig()
    iceberg: IcebergConfig = IcebergConfig()
    postgres_sink: PostgresSinkConfig | None = None
    sources: list[SourceConfig]

    @model_validator(mode="after")
    def _unique_sources(self) -> PipelineConfig:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"sources listed twice: {dupes}")
        return self

    @model_validator(mode="after")
    def _postgres_sink_configured(self) -> PipelineConfig:
        wanting = [f"{s.name}.{t.name}" for s, t in self.tables() if "postgres" in t.sinks]
        if wanting and self.postgres_sink is None:
            raise ValueError(
                f"tables {wanting} list the postgres sink but `postgres_sink` (host, database, user) is not set"
            )
        return self

    def tables(self) -> list[tuple[SourceConfig, TableConfig]]:
        return [(source, table) for source in self.sources for table in source.tables]


def substitute_env(text: str, env: dict[str, str] | None = None) -> str:
    """Replace ${VAR} / ${VAR:-default}; an unset VAR without default is an error naming it."""
    environ = os.environ if env is None else env

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise ConfigError(f"${{{name}}}", f"environment variable {name} is not set; export it or give a default")

    # Whole-line comments are left alone: documentation may show ${VAR} syntax.
    return "".join(
        line if line.lstrip().startswith("#") else _ENV_REF.sub(replace, line) for line in text.splitlines(True)
    )


def _dotted(loc: tuple[int | str, ...], raw: Any) -> str:
    """Turn a pydantic location into the user's key path, naming list items by their `name`."""
    parts: list[str] = []
    node = raw
    for item in loc:
        if isinstance(item, int) and isinstance(node, list) and item < len(node):
            node = node[item]
            label = node.get("name") if isinstance(node, dict) else None
            parts[-1] = f"{parts[-1]}[{label or item}]"
            continue
        if isinstance(item, str) and not item[0].isupper() and "[" not in item:
            parts.append(item)
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts) or "<root>"


def _valid_values(loc: tuple[int | str, ...]) -> list[str] | None:
    # A list item (`sinks[0]`) is validated against its list's vocabulary.
    field = next((item for item in reversed(loc) if isinstance(item, str)), None)
    vocab: dict[str, Any] = {
        "kind": SourceKind,
        "sinks": SinkKind,
        "deletes": DeleteMode,
        "schema_policy": SchemaPolicy,
        "transform": PartitionTransform,
    }
    if isinstance(field, str) and field in vocab:
        return [str(v) for v in get_args(vocab[field])]
    return None


def parse_config(raw: Any) -> PipelineConfig:
    try:
        return PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            message = f"unknown key {loc[-1]!r}; check its spelling"
        elif first["type"] == "missing":
            message = "is required"
        raise ConfigError(_dotted(loc, raw), message, _valid_values(loc)) from None


def load_config(path: str | Path, env: dict[str, str] | None = None) -> PipelineConfig:
    text = Path(path).read_text()
    raw = yaml.safe_load(substitute_env(text, env))
    if not isinstance(raw, dict):
        raise ConfigError("<root>", f"{path} must hold a YAML mapping")
    return parse_config(raw)
