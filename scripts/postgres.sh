#!/usr/bin/env bash
# A throwaway PostgreSQL on loopback for the tests, CI and the benches (the team ledger of #17).
#
#   scripts/postgres.sh install          install Debian's `postgresql` when no server binaries are found
#   scripts/postgres.sh check            exit 0 when server binaries (initdb, pg_ctl, postgres) are found, else 1
#   scripts/postgres.sh bindir           print the directory of those binaries
#   scripts/postgres.sh start DIR [PORT] a fresh cluster in DIR/data on 127.0.0.1:PORT (a free port if omitted);
#                                        writes DIR/env (PORT, user, password, database), 0600
#   scripts/postgres.sh stop DIR         stop what `start DIR` started (nothing to do is not an error)
#   scripts/postgres.sh url DIR          print the SQLAlchemy URL of the test database (it holds the password)
#
# initdb and postgres refuse to run as root, so as root the cluster runs as the system user
# ${ACK_COMPUTE_PG_USER:-ackpg} (created if missing) and DIR is handed to it; DIR's parent must be traversable
# by that user (a directory under /tmp is; pytest's 0700 /tmp/pytest-of-root is not). Run as anyone else, the
# cluster runs as that user.
#
# For tests only: fsync, synchronous_commit and full_page_writes are off (a crash of the machine may lose or
# corrupt the cluster, which is thrown away anyway). It listens on 127.0.0.1 only; the Unix socket lives in DIR
# (0700, trust, for the administrative role `postgres`), TCP logins need the test role's password
# (scram-sha-256). The test role `ack` may create databases (the fixtures make one per test) and owns `ack`.
set -euo pipefail

PG_USER="${ACK_COMPUTE_PG_USER:-ackpg}"
# The product's SQL is portable; 13 is the oldest major with DROP DATABASE ... WITH (FORCE), which the fixtures use.
MIN_MAJOR=13
ROLE=ack
DATABASE=ack

log() { echo "postgres: $*" >&2; }
die() { log "$*"; exit 1; }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

major_of() { # major_of BINDIR -> the server's major version, or nothing
  "$1/postgres" --version 2>/dev/null | sed -nE 's/.* ([0-9]+)(\.[0-9]+)?.*/\1/p' | head -n1
}

usable() { # usable BINDIR: the server binaries are there and new enough
  local dir=$1 major
  [[ -x "$dir/initdb" && -x "$dir/pg_ctl" && -x "$dir/postgres" && -x "$dir/psql" ]] || return 1
  major=$(major_of "$dir")
  [[ -n "$major" && "$major" -ge "$MIN_MAJOR" ]]
}

find_bindir() {
  local dir
  if [[ -n "${ACK_COMPUTE_PG_BINDIR:-}" ]]; then
    usable "$ACK_COMPUTE_PG_BINDIR" && { echo "$ACK_COMPUTE_PG_BINDIR"; return 0; }
    return 1
  fi
  # Debian keeps each major's server in /usr/lib/postgresql/<major>/bin (off PATH); prefer the newest.
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -rn); do
    usable "$dir" && { echo "$dir"; return 0; }
  done
  if command -v pg_config >/dev/null; then
    dir=$(pg_config --bindir 2>/dev/null || true)
    [[ -n "$dir" ]] && usable "$dir" && { echo "$dir"; return 0; }
  fi
  if command -v initdb >/dev/null; then
    dir=$(dirname "$(readlink -f "$(command -v initdb)")")
    usable "$dir" && { echo "$dir"; return 0; }
  fi
  return 1
}

cmd_install() {
  local dir
  if dir=$(find_bindir); then
    log "found PostgreSQL $(major_of "$dir") in $dir"
    return 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Refresh the package lists only when apt knows no candidate (a fresh CI image has empty lists).
  if ! apt-cache policy postgresql 2>/dev/null | grep -qE 'Candidate: [0-9]'; then
    log "apt-get update"
    as_root apt-get update -q >&2
  fi
  # Debian's postinst creates and may start a default cluster on port 5432; these tests make their own, so
  # postgresql-common is installed first and told not to (create_main_cluster, /etc/postgresql-common/createcluster.conf).
  as_root apt-get install -y -q --no-install-recommends postgresql-common >&2
  if ! grep -qsE '^\s*create_main_cluster\s*=\s*(false|off)' /etc/postgresql-common/createcluster.conf; then
    echo "create_main_cluster = false" | as_root tee -a /etc/postgresql-common/createcluster.conf >/dev/null
  fi
  log "installing Debian's postgresql"
  as_root apt-get install -y -q --no-install-recommends postgresql >&2
  dir=$(find_bindir) || die "installed postgresql, but found no initdb/pg_ctl/postgres of major >= $MIN_MAJOR"
  log "installed PostgreSQL $(major_of "$dir") in $dir"
}

runner=()  # the prefix that runs a command as the cluster's owner
set_runner() {
  if [[ $(id -u) -ne 0 ]]; then
    runner=()
    return
  fi
  if ! getent passwd "$PG_USER" >/dev/null; then
    log "creating system user $PG_USER"
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_USER"
  fi
  runner=(runuser -u "$PG_USER" --)
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

read_env() { # read_env DIR KEY
  sed -n "s/^$2=//p" "$1/env" 2>/dev/null | head -n1
}

stop_dir() {
  local dir=$1 bindir
  [[ -f "$dir/data/postmaster.pid" ]] || return 0
  bindir=$(find_bindir) || die "no PostgreSQL binaries found to stop $dir; run: $0 install"
  set_runner
  "${runner[@]}" "$bindir/pg_ctl" stop -D "$dir/data" -m fast -w -t 30 >/dev/null 2>&1 \
    || "${runner[@]}" "$bindir/pg_ctl" stop -D "$dir/data" -m immediate -w -t 30 >/dev/null 2>&1 || true
  if [[ -f "$dir/data/postmaster.pid" ]]; then
    local pid
    pid=$(head -n1 "$dir/data/postmaster.pid")
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
  fi
}

cmd_start() {
  local dir=${1:?usage: start DIR [PORT]} port=${2:-} bindir password started=$SECONDS
  bindir=$(find_bindir) || die "no PostgreSQL server binaries (major >= $MIN_MAJOR) found; run: $0 install"
  [[ -z "$port" ]] && port=$(free_port)
  [[ "$port" =~ ^[0-9]+$ ]] || die "PORT must be a number, got '$port'"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  # A Unix socket path must fit in 107 bytes (sun_path).
  ((${#dir} <= 80)) || die "DIR is too long for the server's Unix socket (${#dir} > 80 characters): $dir"
  stop_dir "$dir"
  rm -rf "$dir/data" "$dir/env" "$dir/server.log" "$dir/pwfile"
  set_runner
  chmod 0700 "$dir"
  if ((${#runner[@]})); then
    chown "$PG_USER:" "$dir"
    "${runner[@]}" test -w "$dir" \
      || die "user $PG_USER cannot reach $dir (a parent directory is not traversable); use a directory under /tmp"
  fi

  password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  # The superuser `postgres` only logs in through the socket in DIR; no password of its own.
  "${runner[@]}" "$bindir/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 --no-instructions >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  "${runner[@]}" tee -a "$dir/data/postgresql.conf" >/dev/null <<EOF
# scripts/postgres.sh: a throwaway cluster for tests (durability off on purpose)
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
log_min_messages = warning
EOF
  "${runner[@]}" "$bindir/pg_ctl" start -D "$dir/data" -l "$dir/server.log" -w -t 60 >/dev/null \
    || { tail -n 20 "$dir/server.log" >&2 2>/dev/null; die "the server did not start; see $dir/server.log"; }
  # The password goes to psql on stdin (psql's \password would prompt); never on a command line (ps shows those).
  "${runner[@]}" "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres >/dev/null <<EOF
CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$password';
CREATE DATABASE $DATABASE OWNER $ROLE;
EOF
  (
    umask 077
    cat >"$dir/env" <<EOF
PG_PORT=$port
PG_USER=$ROLE
PG_PASSWORD=$password
PG_DATABASE=$DATABASE
PG_BINDIR=$bindir
EOF
  )
  log "PostgreSQL $(major_of "$bindir") up in $((SECONDS - started)) s on 127.0.0.1:$port (state in $dir)"
}

cmd_url() {
  local dir=${1:?usage: url DIR}
  [[ -f "$dir/env" ]] || die "no $dir/env; run: $0 start $dir"
  echo "postgresql+psycopg://$(read_env "$dir" PG_USER):$(read_env "$dir" PG_PASSWORD)@127.0.0.1:$(read_env "$dir" PG_PORT)/$(read_env "$dir" PG_DATABASE)"
}

case "${1:-}" in
  install) cmd_install ;;
  check) find_bindir >/dev/null ;;
  bindir) find_bindir || die "no PostgreSQL server binaries (major >= $MIN_MAJOR) found; run: $0 install" ;;
  start) cmd_start "${2:-}" "${3:-}" ;;
  stop) stop_dir "${2:?usage: stop DIR}"; log "stopped ${2}" ;;
  url) cmd_url "${2:-}" ;;
  *) echo "usage: $0 install | check | bindir | start DIR [PORT] | stop DIR | url DIR" >&2; exit 2 ;;
esac
