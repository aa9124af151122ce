#!/usr/bin/env bash
# Installs what the tests and `pulse dev` need from the system: redis-server and PostgreSQL's binaries,
# pgbouncer (the job queue's tests run once more through it, in transaction mode), curl and openssl (the
# README's curl recipes and the TLS test run them), and Debian's chromium (the dashboard's end-to-end
# tests drive it with playwright-core).
# With root rights it installs them with apt-get; otherwise it prints the exact command and fails.
set -euo pipefail

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || need+=(pgbouncer)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if ! command -v initdb >/dev/null 2>&1 && ! command -v pg_config >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi

if [ ${#need[@]} -eq 0 ]; then
  echo "setup: redis-server, PostgreSQL, pgbouncer, curl, openssl and chromium are installed"
  exit 0
fi

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  # Debian starts a system redis-server on 6379 and a pgbouncer on 6432 only under systemd; nothing here
  # relies on them.
  echo "setup: installed ${need[*]}"
else
  echo "setup: missing ${need[*]}; install with: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
