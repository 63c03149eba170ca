#!/usr/bin/env bash
# Install and start a throwaway PostgreSQL on 127.0.0.1:55432; writes its URL to .ci/pg_url.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v pg_ctlcluster >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
data=/tmp/archon-ci-pg
if ! su postgres -c "$bin/pg_ctl -D $data status" >/dev/null 2>&1; then
  rm -rf "$data" && mkdir -p "$data" && chown postgres "$data"
  su postgres -c "$bin/initdb -D $data -A trust -U postgres" >/dev/null
  su postgres -c "$bin/pg_ctl -D $data -o '-p 55432 -k /tmp -c listen_addresses=127.0.0.1' -l $data/log start -w" >/dev/null
fi
echo "postgresql+psycopg2://postgres@127.0.0.1:55432/postgres" > .ci/pg_url
