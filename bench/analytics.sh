#!/usr/bin/env bash
# Analytics speed, measured over HTTP against the release build:
#   PostgreSQL: 1,000,000 referrals (about 5,000,000 interactions), seeded once and kept in
#               database bench_analytics_<N> (BENCH_RESEED=1 seeds again);
#   SQLite:     100,000 referrals in target/bench/analytics-<N>.db.
# For each, the server is started, warmed, and each endpoint is timed BENCH_RUNS times with
# curl; the table (p50, p95, max in ms) is printed and written to bench/results/analytics.md
# and .json. Sizes: BENCH_PG_REFERRALS, BENCH_SQLITE_REFERRALS.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_N="${BENCH_PG_REFERRALS:-1000000}"
SQLITE_N="${BENCH_SQLITE_REFERRALS:-100000}"
RUNS="${BENCH_RUNS:-30}"
PGHOST="${PGHOST:-127.0.0.1}"
PG_ADMIN="postgres://postgres@${PGHOST}:5432/test"
SECRET="bench-secret-bench-secret-bench-secret"
# The data keyring of the bench instances (a fixed one: nothing here is kept).
export REFERRAL_DATA_KEYS="bench=62656e63682d646174612d6b65792d62656e63682d646174612d6b65792d3031"
BIN=target/release/referral-api
PORT=18090
RESULTS=bench/results
mkdir -p "$RESULTS" target/bench

if ! pg_isready -h "$PGHOST" -q; then
  echo "bench: PostgreSQL is not reachable at $PGHOST:5432 (start it: pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start)" >&2
  exit 1
fi
command -v curl >/dev/null || { echo "bench: curl is required" >&2; exit 1; }

echo "bench: building the release binary"
cargo build --release -q -p referral-api

SERVER_PID=
stop_server() { if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=; fi; }
trap stop_server EXIT

seed() { # url referrals
  echo "bench: seeding $2 referrals into $1 (a progress line every 5%)"
  "$BIN" seed-demo --referrals "$2" --database-url "$1" --jwt-secret "$SECRET"
}

start_server() { # url
  REFERRAL_WORKER_INTERVAL=0 "$BIN" --database-url "$1" --jwt-secret "$SECRET" \
    --bind "127.0.0.1:$PORT" --db-pool-size 8 >target/bench/server.log 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 120); do
    curl -fs "http://127.0.0.1:$PORT/ready" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "bench: the server did not become ready; see target/bench/server.log" >&2
  exit 1
}

ROWS=()
time_endpoint() { # database label path
  local token="$ADMIN" times
  for _ in 1 2 3; do curl -fs -o /dev/null -H "Authorization: Bearer $token" "http://127.0.0.1:$PORT$3"; done
  times=$(for _ in $(seq 1 "$RUNS"); do
    curl -fs -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $token" "http://127.0.0.1:$PORT$3"
  done)
  local stats
  stats=$(printf '%s\n' "$times" | python3 -c '
import sys
t = sorted(float(x) * 1000 for x in sys.stdin if x.strip())
p = lambda q: t[min(len(t) - 1, int(round(q * (len(t) - 1))))]
print(f"{p(0.5):.1f} {p(0.95):.1f} {t[-1]:.1f}")')
  read -r p50 p95 max <<<"$stats"
  printf 'bench: %-10s %-44s p50 %7s ms  p95 %7s ms  max %7s ms\n' "$1" "$2" "$p50" "$p95" "$max"
  ROWS+=("$1|$2|$p50|$p95|$max")
}

run_suite() { # database-label url referrals
  start_server "$2"
  ADMIN=$("$BIN" dev-token --role admin --sub 11111111-1111-4111-8111-111111111111 --jwt-secret "$SECRET")
  local program from
  program=$(curl -fs -H "Authorization: Bearer $ADMIN" "http://127.0.0.1:$PORT/api/referral-programs?limit=1" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
  from=$(date -u -d '89 days ago' +%Y-%m-%dT00:00:00Z)
  time_endpoint "$1" "analytics, all time ($3 referrals)" "/api/referrals/analytics"
  time_endpoint "$1" "analytics, all time, by month, anonymized" "/api/referrals/analytics?interval=month&anonymize=true"
  time_endpoint "$1" "performance, all programs" "/api/referrals/performance"
  time_endpoint "$1" "analytics, one program, 90 days" "/api/referrals/analytics?program_id=$program&from=$from"
  time_endpoint "$1" "performance, one program" "/api/referrals/performance?program_id=$program"
  stop_server
}

# PostgreSQL
PG_DB="bench_analytics_${PG_N}"
if [ "${BENCH_RESEED:-0}" = 1 ]; then psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $PG_DB"; fi
if ! psql -qtA "$PG_ADMIN" -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -q 1; then
  psql -q "$PG_ADMIN" -c "CREATE DATABASE $PG_DB"
  seed "postgres://postgres@${PGHOST}:5432/$PG_DB" "$PG_N" || { psql -q "$PG_ADMIN" -c "DROP DATABASE $PG_DB"; exit 1; }
  psql -q "postgres://postgres@${PGHOST}:5432/$PG_DB" -c "VACUUM ANALYZE"
else
  echo "bench: reusing database $PG_DB (BENCH_RESEED=1 seeds it again)"
  # Earlier load runs leave pages that autovacuum has not visited yet: vacuum first, so the
  # index-only scans run as they do in a settled database.
  psql -q "postgres://postgres@${PGHOST}:5432/$PG_DB" -c "VACUUM ANALYZE"
fi
PG_INTERACTIONS=$(psql -qtA "postgres://postgres@${PGHOST}:5432/$PG_DB" -c "SELECT count(*) FROM referral_interactions")
echo "bench: $PG_DB holds $PG_INTERACTIONS interactions"
run_suite postgres "postgres://postgres@${PGHOST}:5432/$PG_DB" "$PG_N"

# SQLite
SQLITE_FILE="target/bench/analytics-${SQLITE_N}.db"
if [ "${BENCH_RESEED:-0}" = 1 ] || [ ! -f "$SQLITE_FILE" ]; then
  rm -f "$SQLITE_FILE" "$SQLITE_FILE-wal" "$SQLITE_FILE-shm"
  seed "sqlite://$SQLITE_FILE" "$SQLITE_N"
fi
run_suite sqlite "sqlite://$SQLITE_FILE" "$SQLITE_N"

# Results
{
  echo "# Analytics benchmark"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, release build, $RUNS timed requests each after 3 warm-up ones, over HTTP with curl (an audit row is written per request)."
  echo "PostgreSQL: $PG_N referrals, $PG_INTERACTIONS interactions. SQLite: $SQLITE_N referrals."
  echo
  echo "| database | request | p50 ms | p95 ms | max ms |"
  echo "|---|---|---:|---:|---:|"
  for row in "${ROWS[@]}"; do IFS='|' read -r db what p50 p95 max <<<"$row"; echo "| $db | $what | $p50 | $p95 | $max |"; done
} >"$RESULTS/analytics.md"
python3 - "$RESULTS/analytics.json" "${ROWS[@]}" <<'PY'
import json, sys
rows = [dict(zip(["database", "request", "p50_ms", "p95_ms", "max_ms"], r.split("|"))) for r in sys.argv[2:]]
for r in rows:
    for k in ("p50_ms", "p95_ms", "max_ms"):
        r[k] = float(r[k])
json.dump(rows, open(sys.argv[1], "w"), indent=2)
PY
echo "bench: written $RESULTS/analytics.md and $RESULTS/analytics.json"
cat "$RESULTS/analytics.md"
