"""The project's own PostgreSQL 15 cluster: source database, Dagster instance storage, logical replication.

The cluster lives in the state dir on a loopback port with `wal_level=logical`. PostgreSQL refuses to run
as root, so when we are root the server runs as the Debian `postgres` user (the state dir is handed to it).
Authentication is `trust` on loopback only: this cluster is a local development stack, never production.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import psycopg2
from psycopg2 import sql

from cdc_project.settings import StackSettings
from cdc_project.stack import process

PG_BIN = Path(os.environ.get("CDC_PG_BIN", "/usr/lib/postgresql/15/bin"))

SERVER_SETTINGS = {
    "wal_level": "logical",
    "max_replication_slots": "10",
    "max_wal_senders": "10",
    "max_connections": "200",
    "fsync": "on",
    "synchronous_commit": "on",
    "shared_buffers": "256MB",
}


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def _give_to_server_user(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, user="postgres", group="postgres")


def dsn(settings: StackSettings, database: str) -> str:
    return f"postgresql://{settings.pg_user}@{settings.host}:{settings.ports.postgres}/{database}"


def initialized(settings: StackSettings) -> bool:
    return (settings.pg_data_dir / "PG_VERSION").exists()


def init_cluster(settings: StackSettings) -> None:
    if initialized(settings):
        return
    settings.pg_socket_dir.mkdir(parents=True, exist_ok=True)
    _give_to_server_user(settings.pg_socket_dir)
    subprocess.run(
        _as_server_user(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(settings.pg_data_dir),
                "-U",
                settings.pg_user,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ]
        ),
        check=True,
        capture_output=True,
    )
    lines = [f"{key} = '{value}'" for key, value in SERVER_SETTINGS.items()]
    lines += [
        f"port = {settings.ports.postgres}",
        f"listen_addresses = '{settings.host}'",
        f"unix_socket_directories = '{settings.pg_socket_dir}'",
    ]
    with open(settings.pg_data_dir / "postgresql.conf", "a") as conf:
        conf.write("\n# cdc-lakehouse local stack\n" + "\n".join(lines) + "\n")


def start_argv(settings: StackSettings) -> list[str]:
    """pg_ctl returns once the server accepts connections; the server itself daemonizes."""
    log = settings.log_file("postgres")
    log.parent.mkdir(parents=True, exist_ok=True)
    log.touch()
    _give_to_server_user(log)
    return _as_server_user(
        [str(PG_BIN / "pg_ctl"), "-D", str(settings.pg_data_dir), "-l", str(log), "-w", "-t", "60", "start"]
    )


def server_pid(settings: StackSettings) -> int | None:
    try:
        return int((settings.pg_data_dir / "postmaster.pid").read_text().splitlines()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def cluster_pids(settings: StackSettings) -> list[int]:
    """Every live process of this cluster: the postmaster and its children all run in the data dir."""
    data = os.path.realpath(settings.pg_data_dir)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "cwd") == data and process.pid_alive(int(entry.name)):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _lock_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().splitlines()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def _clear_stale_locks(settings: StackSettings) -> None:
    """After a crash (a SIGKILLed postmaster, a reboot) `postmaster.pid` and the socket's lock file name a
    dead server, or a zombie nobody reaped yet, which PostgreSQL's own check counts as running, so it
    refuses to start. A lock is removed only when its process is not alive and no process of the cluster
    is left (backends leave within a moment of their postmaster's death): a live server's is never touched."""
    locks = [settings.pg_data_dir / "postmaster.pid", settings.pg_socket_dir / f".s.PGSQL.{settings.ports.postgres}.lock"]
    stale = [lock for lock in locks if (pid := _lock_pid(lock)) is not None and not process.pid_alive(pid)]
    if not stale:
        return
    deadline = time.monotonic() + 30
    while cluster_pids(settings) and time.monotonic() < deadline:
        time.sleep(0.2)
    if not cluster_pids(settings):
        for lock in stale:
            lock.unlink(missing_ok=True)


def start(settings: StackSettings) -> None:
    init_cluster(settings)
    if healthy(settings):
        return
    _clear_stale_locks(settings)
    subprocess.run(start_argv(settings), check=True, capture_output=True)


def stop(settings: StackSettings) -> None:
    if server_pid(settings) is None or not initialized(settings):
        return
    subprocess.run(
        _as_server_user([str(PG_BIN / "pg_ctl"), "-D", str(settings.pg_data_dir), "-m", "fast", "-w", "stop"]),
        capture_output=True,
    )


def healthy(settings: StackSettings) -> bool:
    try:
        with psycopg2.connect(dsn(settings, "postgres"), connect_timeout=2) as conn, conn.cursor() as cur:
            cur.execute("select 1")
            return bool(cur.fetchone() == (1,))
    except psycopg2.OperationalError:
        return False


def ensure_database(settings: StackSettings, name: str) -> None:
    conn = psycopg2.connect(dsn(settings, "postgres"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    finally:
        conn.close()


def ensure_replication(source_dsn: str, publication: str, slot: str, tables: list[str]) -> None:
    """Publication for exactly the captured tables, and a pgoutput slot Debezium streams from.

    Created here (Debezium runs with publication.autocreate.mode=disabled) so the capture user needs no
    superuser rights in production and the slot exists before the first change we must not miss.
    """
    conn = psycopg2.connect(source_dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_publication where pubname = %s", (publication,))
            qualified = sql.SQL(", ").join(sql.Identifier(*t.split(".")) for t in tables)
            if cur.fetchone() is None:
                cur.execute(sql.SQL("create publication {} for table ").format(sql.Identifier(publication)) + qualified)
            else:
                cur.execute(sql.SQL("alter publication {} set table ").format(sql.Identifier(publication)) + qualified)
            cur.execute("select 1 from pg_replication_slots where slot_name = %s", (slot,))
            if cur.fetchone() is None:
                cur.execute("select pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
    finally:
        conn.close()


def drop_slot(source_dsn: str, slot: str) -> None:
    conn = psycopg2.connect(source_dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select pg_drop_replication_slot(slot_name) from pg_replication_slots "
                "where slot_name = %s and not active",
                (slot,),
            )
    finally:
        conn.close()


def slot_active(source_dsn: str, slot: str) -> bool:
    try:
        with psycopg2.connect(source_dsn, connect_timeout=2) as conn, conn.cursor() as cur:
            cur.execute("select active from pg_replication_slots where slot_name = %s", (slot,))
            row = cur.fetchone()
            return bool(row and row[0])
    except psycopg2.OperationalError:
        return False
