#!/bin/sh
# A PostgreSQL server of the bench's own, sized the way docs/operations.md says to size a
# production one, for bench/scale's 10-million-entry load: the machine's shared server
# keeps PostgreSQL's defaults (128 MB shared_buffers, 1 GB max_wal_size), on which the
# load slows as the indexes outgrow the buffer cache (docs/benchmarks.md has both runs).
#
#   bench/tuned-postgres.sh start DIR [PORT]   # initdb DIR on first use; serve 127.0.0.1:PORT
#   bench/tuned-postgres.sh stop DIR
#
# then: DATABASE_URL=postgres://postgres@127.0.0.1:5433/postgres python -m bench.scale ...
set -eu
action=${1:?start or stop}
dir=${2:?a directory for the cluster}
port=${3:-5433}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "no PostgreSQL server under /usr/lib/postgresql" >&2; exit 1; }
# initdb and postgres refuse to run as root: run them as the postgres user then.
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -c "$*"; else sh -c "$*"; fi; }

case $action in
start)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)  # the server resolves its socket directory from its data directory
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_pg "$bin/initdb -D '$dir/data' --auth=trust -U postgres -E UTF8 --locale=C.UTF-8" >/dev/null
  fi
  # A quarter of memory for shared_buffers (6 GB of 24), WAL room for a 4,096-entry round
  # rewriting random index pages, and checkpoints spread over half an hour.
  mem_kb=$(awk '/MemTotal/ {print $2}' /proc/meminfo)
  as_pg "$bin/pg_ctl -D '$dir/data' -l '$dir/server.log' -w start -o \"-p $port \
    -c listen_addresses=127.0.0.1 -c unix_socket_directories='$dir' \
    -c shared_buffers=$((mem_kb / 4 / 1024))MB -c effective_cache_size=$((mem_kb * 2 / 3 / 1024))MB \
    -c max_wal_size=16GB -c checkpoint_timeout=30min -c wal_compression=on \
    -c maintenance_work_mem=1GB\""
  ;;
stop)
  dir=$(cd "$dir" && pwd)
  as_pg "$bin/pg_ctl -D '$dir/data' -w stop -m fast"
  ;;
*)
  echo "usage: $0 start|stop DIR [PORT]" >&2
  exit 2
  ;;
esac
