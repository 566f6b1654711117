"""`cdc`: the local stack's command line (what `make up`, `make down` and `make demo` call)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
from pathlib import Path

from cdc_project.config import load_config
from cdc_project.core.errors import CdcError
from cdc_project.settings import StackSettings, load_settings
from cdc_project.stack import postgres, services


def _config(settings: StackSettings):  # type: ignore[no-untyped-def]
    return load_config(settings.pipeline_config, env=services.process_env(settings))


def cmd_up(settings: StackSettings, args: argparse.Namespace) -> int:
    print(f"cdc up: state in {settings.state_dir}")
    services.up(settings, _config(settings), only=set(args.only) if args.only else None)
    print(f"Dagster UI: http://{settings.host}:{settings.ports.dagster_webserver}")
    return 0


def cmd_down(settings: StackSettings, _args: argparse.Namespace) -> int:
    services.down(settings, _config(settings))
    left = services.leftover_pids(settings)
    if left:
        print(f"cdc down: processes still running: {left}", file=sys.stderr)
        return 1
    print("cdc down: no stack process left")
    return 0


def cmd_status(settings: StackSettings, args: argparse.Namespace) -> int:
    """Each service with its address and health, then each connector's and task's state (FAILED: the trace)."""
    import json

    config = _config(settings)
    health = services.status(settings, config)
    client = services.connect_client(settings)
    connect_up = any(s.name == "connect" and s.healthy for s in health)
    connectors = [client.status(s.name) for s in services.connector_sources(config)] if connect_up else []
    if args.json:
        print(json.dumps({
            "state_dir": str(settings.state_dir),
            "services": [dataclasses.asdict(s) for s in health],
            "connectors": [c.to_json() for c in connectors],
        }, indent=2))
    else:
        for s in health:
            print(f"  {s.name:20s} {'healthy' if s.healthy else 'DOWN':8s} {s.address}")
        for c in connectors:
            print(f"  {c.summary()}")
            trace = c.first_trace()
            if trace:
                print("    " + "\n    ".join(trace.splitlines()[:15]))
    return 0 if all(s.healthy for s in health) else 1


def cmd_reset(settings: StackSettings, _args: argparse.Namespace) -> int:
    """Forget captured state: lake, Kafka topics and Connect's offsets, PostgreSQL and Dagster instance data.

    For starting over (the demo from scratch, or after a topic was re-created and the sinks refuse it).
    """
    if any(s.healthy for s in services.status(settings, _config(settings))):
        print("cdc reset: stop the stack first (`make down`)", file=sys.stderr)
        return 1
    for path in (settings.lake_root, settings.kafka_dir, settings.connect_dir, settings.dagster_home):
        shutil.rmtree(path, ignore_errors=True)
    if postgres.initialized(settings):
        shutil.rmtree(settings.pg_data_dir.parent, ignore_errors=True)
    print(f"cdc reset: removed lake, Kafka, Connect, Dagster and PostgreSQL state under {settings.state_dir}")
    return 0


def cmd_seed(settings: StackSettings, args: argparse.Namespace) -> int:
    from cdc_project.demo.seed import seed

    counts = seed(postgres.dsn(settings, settings.pg_source_db), seed=args.seed)
    print(f"cdc seed: {counts}")
    return 0


def cmd_generate(settings: StackSettings, args: argparse.Namespace) -> int:
    from cdc_project.demo.generator import WorkloadMix, format_progress, run_generator

    stats = run_generator(
        postgres.dsn(settings, settings.pg_source_db),
        rate=args.rate,
        duration=args.duration,
        mix=WorkloadMix(),
        seed=args.seed,
        progress=lambda s: print(format_progress(s), end="\r" if sys.stdout.isatty() else "\n", flush=True),
    )
    print(format_progress(stats))
    return 0


def cmd_connectors(settings: StackSettings, args: argparse.Namespace) -> int:
    """Write the Connect configs (default), or deploy / inspect / steer them through Connect's REST API."""
    import json

    from cdc_project.adapters.connect_rest import ConnectClient
    from cdc_project.core.connectors import connector_config, write_connector_files

    if args.action == "write":
        # The caller's environment only: these files are for another deployment (docker/pipeline.env names
        # its hosts), so the local stack's hosts and ports must not be substituted into them.
        config = load_config(settings.pipeline_config, env=dict(os.environ))
        for path in write_connector_files(config, Path(args.out)):
            print(f"wrote {path}")
        return 0
    config = _config_from(settings, args.config)
    client = ConnectClient(args.url or os.environ.get("CDC_CONNECT_URL") or settings.connect_url)
    sources = [s for s in config.sources if s.kind != "cassandra" and (not args.source or s.name in args.source)]
    unknown = sorted(set(args.source or []) - {s.name for s in config.sources})
    if unknown:
        print(f"cdc connectors: no source {unknown}; sources: {[s.name for s in config.sources]}", file=sys.stderr)
        return 2
    failed = False
    for source in sources:
        if args.action == "deploy":
            print(f"  {source.name}: {client.deploy(source.name, connector_config(source, config.kafka))}")
        elif args.action == "status":
            health = client.status(source.name)
            failed = failed or not health.running
            print(json.dumps(health.to_json()) if args.json else f"  {health.summary()}")
            if not args.json and health.first_trace():
                print("    " + "\n    ".join((health.first_trace() or "").splitlines()[:15]))
        elif args.action == "pause":
            client.pause(source.name)
            print(f"  {source.name}: pause requested")
        elif args.action == "resume":
            client.resume(source.name)
            print(f"  {source.name}: resume requested")
        elif args.action == "restart":
            client.restart(source.name, only_failed=args.only_failed)
            print(f"  {source.name}: restart requested")
        elif args.action == "delete":
            print(f"  {source.name}: {'deleted' if client.delete(source.name) else 'not deployed'}")
    return 1 if failed else 0


def cmd_purge_tombstones(settings: StackSettings, _args: argparse.Namespace) -> int:
    """Drop tombstones older than each table's tombstone_retention_hours (the resurrection horizon)."""
    from datetime import UTC, datetime, timedelta

    from cdc_project.adapters.sinks import sink_for

    config = _config(settings)
    for source, table in config.tables():
        if table.append_only:
            continue
        horizon = datetime.now(UTC) - timedelta(hours=table.tombstone_retention_hours)
        for kind in table.sinks:
            purged = sink_for(config, source, table, kind).purge_tombstones(horizon)
            print(f"  {source.name}.{table.name}@{kind}: purged {purged} tombstones older than "
                  f"{horizon:%Y-%m-%d %H:%M} UTC")
    return 0


def _config_from(settings: StackSettings, path: str | None):  # type: ignore[no-untyped-def]
    if path is None:
        return _config(settings)
    return load_config(path, env={**services.process_env(settings), **os.environ})


def cmd_apply(settings: StackSettings, args: argparse.Namespace) -> int:
    """Apply a JSON-lines file of Kafka messages to one sink, as a Dagster run would; a JSON line per table."""
    import json

    from cdc_project.core.message_lines import parse_lines
    from cdc_project.file_apply import apply_file

    config = _config_from(settings, args.config)
    if args.events == "-":
        messages = list(parse_lines(sys.stdin, "<stdin>"))
    else:
        with open(args.events, encoding="utf-8") as lines:
            messages = list(parse_lines(lines, args.events))
    for summary in apply_file(config, messages, args.sink, args.batch_size):
        print(json.dumps(summary.to_json()))
    return 0
def cmd_reconcile(settings: StackSettings, args: argparse.Namespace) -> int:
    import os

    from cdc_project import reconcile_cli

    for key, value in services.process_env(settings).items():  # what the stack's own processes see
        os.environ.setdefault(key, value)
    return reconcile_cli.run(_config(settings), args)


def cmd_show(settings: StackSettings, args: argparse.Namespace) -> int:
    """A table's current rows in one sink as JSON lines sorted by key."""
    from cdc_project import show_cli

    return show_cli.run(_config_from(settings, args.config), args)


def cmd_demo(settings: StackSettings, args: argparse.Namespace) -> int:
    from cdc_project.demo.run import run_demo

    return run_demo(settings, _config(settings), duration=args.duration, rate=args.rate)


def cmd_decode(_settings: StackSettings, args: argparse.Namespace) -> int:
    from cdc_project import decode_cli

    return decode_cli.run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cdc", description="cdc-lakehouse local stack")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the local stack and wait until every service is healthy")
    up.add_argument("--only", nargs="*", help="start only these services")
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop the local stack; fails if any process is left").set_defaults(func=cmd_down)
    status = sub.add_parser("status", help="each service's address and health, each connector's and task's state")
    status.add_argument("--json", action="store_true", help="one JSON document instead of lines")
    status.set_defaults(func=cmd_status)
    sub.add_parser("reset", help="delete lake, offsets and instance state (stack must be down)").set_defaults(
        func=cmd_reset
    )
    seed = sub.add_parser("seed", help="(re)create and seed the demo shop database")
    seed.add_argument("--seed", type=int, default=42)
    seed.set_defaults(func=cmd_seed)
    gen = sub.add_parser("generate", help="run the change generator against the demo database")
    gen.add_argument("--rate", type=float, default=50.0)
    gen.add_argument("--duration", type=float, default=None)
    gen.add_argument("--seed", type=int, default=7)
    gen.set_defaults(func=cmd_generate)
    conn = sub.add_parser(
        "connectors",
        help="Kafka Connect connectors from the pipeline config: write their files (default), or "
        "deploy|status|pause|resume|restart|delete them through Connect's REST API",
    )
    conn.add_argument("action", nargs="?", default="write",
                      choices=["write", "deploy", "status", "pause", "resume", "restart", "delete"])
    conn.add_argument("--out", default="docker/connectors", help="write: the folder for the config files")
    conn.add_argument("--url", default=None, help="Connect REST URL (default: $CDC_CONNECT_URL, else the local stack's)")
    conn.add_argument("--source", action="append", help="only this source (repeatable; default: every source)")
    conn.add_argument("--only-failed", action="store_true", help="restart: only the failed connector and tasks")
    conn.add_argument("--json", action="store_true", help="status: JSON lines")
    conn.add_argument("--config", default=None, help="pipeline config (default: the stack's pipeline.yaml)")
    conn.set_defaults(func=cmd_connectors)
    sub.add_parser("purge-tombstones", help="drop tombstones past each table's retention").set_defaults(
        func=cmd_purge_tombstones
    )
    apply = sub.add_parser("apply", help="apply a JSON-lines file of Kafka messages to a sink (replays, incidents)")
    apply.add_argument("--sink", required=True, choices=["delta", "iceberg", "postgres"])
    apply.add_argument("--events", required=True, help="JSON-lines file of Kafka messages, or - for stdin")
    apply.add_argument("--batch-size", type=int, default=None, help="messages per commit (default: ingest.max_batch_events)")
    apply.add_argument("--config", default=None, help="pipeline config (default: the stack's pipeline.yaml)")
    apply.set_defaults(func=cmd_apply)
    show = sub.add_parser("show", help="a table's current rows in one sink, JSON lines sorted by key")
    from cdc_project.show_cli import add_arguments as add_show_arguments

    add_show_arguments(show)
    show.set_defaults(func=cmd_show)
    decode = sub.add_parser("decode", help="print what the pipeline makes of Kafka messages (JSON lines)")
    from cdc_project.decode_cli import add_arguments

    add_arguments(decode)
    decode.set_defaults(func=cmd_decode)
    from cdc_project.reconcile_cli import add_parser as add_reconcile

    add_reconcile(sub, cmd_reconcile)
    demo = sub.add_parser("demo", help="seed, start the stack and the generator; headless with --duration")
    demo.add_argument("--duration", type=float, default=None)
    demo.add_argument("--rate", type=float, default=50.0)
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    settings = load_settings()
    try:
        sys.exit(args.func(settings, args))
    except CdcError as exc:
        print(f"cdc {args.command}: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
