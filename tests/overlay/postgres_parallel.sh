#!/bin/sh
# Runs inside the Lambda-like sandbox (bullseye, PostgreSQL 13): initdb into
# /tmp, a server with dynamic_shared_memory_type=posix (what initdb picks
# wherever shm_open works, and PostgreSQL's default), a parallel aggregate
# and a pgbench run.  Prints one "key: value" line per fact for
# postgres_test.sh to check; stops at the first step that fails.
# PostgreSQL needs shm_open/shm_unlink for its dynamic shared memory (parallel
# query) and sem_init/sem_wait/sem_post/sem_trywait on process-shared unnamed
# semaphores for its locks: both libraries of lambshm are in play.
set -u
bin=/usr/lib/postgresql/13/bin
data=/tmp/pgdata
$bin/initdb -D $data -A trust -U postgres --no-sync >/tmp/initdb.log 2>&1 || {
  echo "initdb: failed"; tail -5 /tmp/initdb.log; exit 1; }
# initdb probes shm_open and falls back to System V where it fails.
echo "initdb: $(sed -n 's/^dynamic_shared_memory_type = \([a-z]*\).*/\1/p' $data/postgresql.conf)"
cat >> $data/postgresql.conf <<CONF
dynamic_shared_memory_type = posix
unix_socket_directories = '/tmp'
listen_addresses = ''
fsync = off
max_worker_processes = 8
max_parallel_workers = 4
max_parallel_workers_per_gather = 4
parallel_setup_cost = 0
parallel_tuple_cost = 0
min_parallel_table_scan_size = 0
CONF
if ! $bin/pg_ctl -D $data -l /tmp/pg.log -w -t 120 start >/dev/null 2>&1; then
  echo "start: failed: $(grep -m1 FATAL /tmp/pg.log)"
  exit 1
fi
echo "start: ok"
pid=$(head -1 $data/postmaster.pid)
echo "libpthread: $(grep -m1 -o '/[^ ]*libpthread[.]so[.]0' /proc/$pid/maps)"
echo "librt: $(grep -m1 -o '/[^ ]*librt[.]so[.]1' /proc/$pid/maps)"
psql="$bin/psql -h /tmp -U postgres -d postgres -X -q -A -t"
$psql -c "create table t as select g as x from generate_series(1, 200000) g; analyze t;"
echo "workers: $($psql -c "explain (analyze, costs off, timing off, summary off) select sum(x) from t" |
  sed -n 's/.*Workers \(Planned\|Launched\): \([0-9]*\).*/\1 \2/p' | tr '\n' ' ')"
echo "sum: $($psql -c "select sum(x) from t")"
# The parallel query's own segment is removed by the last of its processes
# to detach, which can be a moment after psql has the result (seen under
# load, with plain files): give it 5 s, then only the control segment is left.
for _ in $(seq 50); do
  segments=$(sh /mnt/objects-left /tmp/shm | grep -c '^PostgreSQL[.]')
  [ "$segments" -le 1 ] && break
  sleep 0.1
done
echo "segments while running: $segments"
# Many backends contending for the same rows: lock waits sleep on the
# backends' semaphores.
$bin/pgbench -h /tmp -U postgres -i -q -s 1 postgres >/tmp/pgbench.log 2>&1 &&
  $bin/pgbench -h /tmp -U postgres -c 8 -j 4 -t 150 -n postgres >>/tmp/pgbench.log 2>&1
echo "pgbench: exit $? $(grep -o 'number of failed transactions: [0-9]*\|number of transactions actually processed: [0-9/]*' /tmp/pgbench.log | tr '\n' ' ')"
echo "pgbench balance: $($psql -c "select (select sum(abalance) from pgbench_accounts) = (select sum(delta) from pgbench_history)")"
$bin/pg_ctl -D $data -w -t 120 stop >/dev/null 2>&1
echo "stop: $?"
echo "objects after: $(sh /mnt/objects-left /tmp/shm | grep -c .)"
