#!/usr/bin/env bash
# Installs everything the local stack and the tests need; a second run reuses what is there.
#   - Debian: PostgreSQL 15 server, OpenJDK 17 and Maven (only what is missing)
#   - JVM jars (Apache Kafka, Kafka Connect, Debezium connector plugins) from Maven Central, pinned in
#     cdc_project/stack/maven/pom.xml, copied into .cache/jvm (~/.m2 caches the downloads)
#   - .venv: the pinned Python environment (requirements.lock), the DuckDB extension wheels, this project
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=.venv/.installed
lock_sum=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)

need_apt=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || need_apt+=(postgresql-15 postgresql-client-15)
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "install: apt packages ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need_apt[@]}"
  # Debian starts its own cluster on 5432; the project runs its own cluster and does not need it.
  $SUDO systemctl disable --now postgresql >/dev/null 2>&1 || $SUDO service postgresql stop >/dev/null 2>&1 || true
fi

jvm_dir=${CDC_JVM_DIR:-.cache/jvm}
jvm_sum=$(cat $(find cdc_project/stack/maven -name pom.xml | sort) | sha256sum | cut -d' ' -f1)
if [ -f "$jvm_dir/.installed" ] && [ "$(cat "$jvm_dir/.installed")" = "$jvm_sum" ]; then
  echo "install: Kafka, Connect and Debezium jars are up to date ($jvm_dir)"
else
  echo "install: Kafka, Connect and Debezium jars from Maven Central into $jvm_dir"
  rm -rf "$jvm_dir"
  mvn -q -B -f cdc_project/stack/maven/pom.xml package -Dcdc.jvm.dir="$(pwd)/$jvm_dir"
  echo "$jvm_sum" > "$jvm_dir/.installed"
fi

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_sum" ]; then
  echo "install: .venv is up to date"
else
  echo "install: creating .venv from requirements.lock"
  PY=${PYTHON:-python3}
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements.lock
  .venv/bin/pip install -q --no-deps -e .
  echo "$lock_sum" > "$stamp"
fi
