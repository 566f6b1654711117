"""Pipeline config loading: the repo's config validates, and bad configs are refused naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cdc_project.config import load_config, parse_config, substitute_env
from cdc_project.core.errors import ConfigError, MissingSecretError

ROOT = Path(__file__).resolve().parent.parent


def _base() -> dict:
    return yaml.safe_load(substitute_env((ROOT / "pipeline.yaml").read_text(), {}))


def test_config_repo_pipeline_loads() -> None:
    config = load_config(ROOT / "pipeline.yaml", env={})
    names = [t.name for _, t in config.tables()]
    assert names == ["public.customers", "public.products", "public.orders", "public.order_items", "public.page_views"]
    page_views = config.sources[0].tables[-1]
    assert page_views.append_only and page_views.primary_key == []
    assert config.sources[0].topic_for(page_views) == "shop.public.page_views"


@pytest.mark.parametrize(
    ("mutate", "key", "valid"),
    [
        # a typo in a closed vocabulary lists the valid values
        (lambda c: c["sources"][0].update(kind="postgress"), "sources[shop].kind", "mysql"),
        (lambda c: c["sources"][0]["tables"][0].update(sinks=["parquet"]), "sources[shop].tables[public.customers].sinks[0]", "iceberg"),
        # a sink listed twice would apply every event twice under one asset
        (lambda c: c["sources"][0]["tables"][0].update(sinks=["delta", "delta"]), "tables[public.customers].sinks", None),
        # the postgres sink needs its target database
        (lambda c: c.pop("postgres_sink"), "postgres_sink", None),
        (lambda c: c["sources"][0]["tables"][1].update(schema_policy="yolo"), "schema_policy", "lenient"),
        # an unknown key is named, so a misspelled option never silently does nothing
        (lambda c: c["sources"][0].update(topic_prefx="x"), "sources[shop].topic_prefx", None),
        # a missing required key
        (lambda c: c["kafka"].pop("bootstrap_servers"), "kafka.bootstrap_servers", None),
        # an unqualified table name
        (lambda c: c["sources"][0]["tables"][0].update(name="customers"), "sources[shop].tables[customers].name", None),
        # a secret written into storage options is refused
        (lambda c: c["lake"].update(storage_options={"aws_secret_access_key": "x"}), "lake.storage_options", None),
        # reconciliation: a critical threshold below the warning one, a cron that is not one
        (lambda c: c["sources"][0]["tables"][0].update(reconcile={"warn_drift_pct": 5, "critical_drift_pct": 1}),
         "tables[public.customers].reconcile", None),
        (lambda c: c["sources"][0]["tables"][0].update(reconcile={"cron": "hourly"}), "reconcile.cron", None),
        # a declared column type (schemaless topics) that is not one is refused at load, not at the first batch
        (lambda c: c["sources"][0]["tables"][0].update(columns={"id": "int64", "amount": "money"}),
         "tables[public.customers].columns", "decimal(p,s)"),
        (lambda c: c["sources"][0]["tables"][0].update(columns={"id": {"type": "int64", "name": "x.Bogus"}}),
         "tables[public.customers].columns", "x.Bogus"),
        (lambda c: c["sources"][0].update(binary_handling_mode="base32"), "sources[shop].binary_handling_mode", "hex"),
        # the Connect REST URL the capture check asks: an http(s) base URL, never one holding a secret
        (lambda c: c["kafka"].update(connect_url="connect:8083"), "kafka.connect_url", "http(s) URL"),
        (lambda c: c["kafka"].update(connect_url="http://connect:80x3"), "kafka.connect_url", "no valid port"),
        (lambda c: c["kafka"].update(connect_url="https://admin:pw@connect:8083"), "kafka.connect_url", "credentials"),
    ],
)
def test_config_bad_value_names_key(mutate, key: str, valid: str | None) -> None:
    raw = _base()
    mutate(raw)
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert key in str(info.value)
    if valid is not None:
        assert valid in str(info.value)


def test_config_connect_url_defaults_to_the_environment_and_takes_a_base_url() -> None:
    assert parse_config(_base()).kafka.connect_url is None  # None: $CDC_CONNECT_URL (defs/capture/)
    raw = _base()
    raw["kafka"]["connect_url"] = "https://connect.internal:8443/rest"
    assert parse_config(raw).kafka.connect_url == "https://connect.internal:8443/rest"


def test_config_reconcile_defaults_hourly_warn_above_zero_critical_at_one_percent() -> None:
    settings = parse_config(_base()).sources[0].tables[0].reconcile
    assert (settings.cron, settings.warn_drift_pct, settings.critical_drift_pct) == ("0 * * * *", 0.0, 1.0)
    assert settings.enabled and settings.recheck_rounds >= 1 and settings.catch_up_timeout_seconds > 0


def test_config_unset_env_reference_is_named() -> None:
    with pytest.raises(ConfigError, match="NOPE_NOT_SET"):
        substitute_env("x: ${NOPE_NOT_SET}", {})


def test_config_secret_comes_from_env_only(monkeypatch: pytest.MonkeyPatch) -> None:
    source = parse_config(_base()).sources[0]
    monkeypatch.delenv("CDC_PG_PASSWORD", raising=False)
    with pytest.raises(MissingSecretError, match="CDC_PG_PASSWORD"):
        source.password()
    monkeypatch.setenv("CDC_PG_PASSWORD", "s3cret")
    assert source.password() == "s3cret"
