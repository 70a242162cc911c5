#!/usr/bin/env bash
# Runs a command against a throwaway Debian PostgreSQL 15 cluster (the oldest server the
# migrations must support), with TEST_DATABASE_URL pointing at it, and removes the cluster after.
#
#   scripts/with-pg15.sh npx vitest run test/db
#
# Installs postgresql-15 and postgresql-15-plpgsql-check with apt-get when absent (root only). As
# root the cluster runs as the `postgres` OS user (created when missing); otherwise as the calling
# user.
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 <command...>" >&2
  exit 2
fi

PGBIN=/usr/lib/postgresql/15/bin
is_root=false
[ "$(id -u)" -eq 0 ] && is_root=true

if [ ! -x "$PGBIN/initdb" ]; then
  if ! $is_root; then
    echo "with-pg15: $PGBIN/initdb is missing; install it with: sudo apt-get install -y postgresql-15" >&2
    exit 1
  fi
  echo "with-pg15: installing postgresql-15" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql-15 >/dev/null
fi

# plpgsql_check, for the static check of every PL/pgSQL function (test/db/plpgsql-check.test.ts):
# installed like the server when absent, and then required, so the check cannot pass by not running.
if [ ! -f /usr/share/postgresql/15/extension/plpgsql_check.control ]; then
  if $is_root; then
    echo "with-pg15: installing postgresql-15-plpgsql-check" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql-15-plpgsql-check >/dev/null
  else
    echo "with-pg15: plpgsql_check is missing (sudo apt-get install -y postgresql-15-plpgsql-check); its test is skipped" >&2
  fi
fi
if [ -f /usr/share/postgresql/15/extension/plpgsql_check.control ]; then
  export OPS_REQUIRE_PLPGSQL_CHECK=1
fi

as_pg() {
  if $is_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

if $is_root && ! id -u postgres >/dev/null 2>&1; then
  groupadd -f postgres
  useradd --system --gid postgres --home-dir /var/lib/postgresql --shell /bin/bash postgres
fi

# The cluster's folder must be reachable by the postgres OS user.
base="${TMPDIR:-/tmp}"
if $is_root && ! runuser -u postgres -- test -x "$base"; then base=/tmp; fi
dir="$(mktemp -d "$base/pg15.XXXXXX")"
chmod 0755 "$dir"
$is_root && chown postgres: "$dir"

port=""
cleanup() {
  local status=$?
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

password="$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
(umask 077 && printf '%s\n' "$password" >"$dir/pwfile")
$is_root && chown postgres: "$dir/pwfile"

as_pg "$PGBIN/initdb" -D "$dir/data" --auth=scram-sha-256 --username=postgres \
  --pwfile="$dir/pwfile" --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
  cat "$dir/initdb.log" >&2
  exit 1
}
rm -f "$dir/pwfile"

# A free TCP port, chosen by the kernel.
port="$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")"

# Throwaway data: durability off for speed.
as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
  >/dev/null || {
  cat "$dir/server.log" >&2
  exit 1
}
echo "with-pg15: PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2

export TEST_DATABASE_URL="postgresql://postgres:$password@127.0.0.1:$port/postgres"
"$@"
