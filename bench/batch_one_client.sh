#!/usr/bin/env bash
# One platform client sending one request at a time (a queue consumer, a backfill), on the
# bench database `just bench` leaves: consultation events one per request against the same
# events in batches of 100, whose patients the service applies up to four at a time. Each run
# converts referees of its own (still registered, drawn afresh), so the rates compare.
# Prints converted events a second for each. Run after `just bench` (about 1 minute).
set -euo pipefail
cd "$(dirname "$0")/.."
PGHOST="${PGHOST:-127.0.0.1}"
PG_URL="postgres://postgres@${PGHOST}:5432/bench_analytics_${BENCH_PG_REFERRALS:-1000000}"
SECRET="bench-secret-bench-secret-bench-secret"
export REFERRAL_DATA_KEYS="bench=62656e63682d646174612d6b65792d62656e63682d646174612d6b65792d3031"
BIN=target/release/referral-api PORT=18092 SECONDS_EACH=20
BASE="http://127.0.0.1:$PORT"
export BENCH_SAMPLES=target/bench/one-client BENCH_THREADS=1
mkdir -p "$BENCH_SAMPLES"
[ -x "$BIN" ] || cargo build --release -q -p referral-api
psql -qtA "$PG_URL" -c "SELECT 1" >/dev/null || { echo "bench: run just bench first (no bench database)" >&2; exit 1; }
# Twice what each run could convert at the rates seen (the warm-up takes the second half).
psql -qtA "$PG_URL" -c "SELECT referee_patient_id FROM referrals WHERE status = 'registered' ORDER BY random() LIMIT 26000" >"$BENCH_SAMPLES/all.txt"
head -n 6000 "$BENCH_SAMPLES/all.txt" >"$BENCH_SAMPLES/registered.txt"
tail -n +6001 "$BENCH_SAMPLES/all.txt" >"$BENCH_SAMPLES/registered_batch.txt"
export BENCH_SERVICE_TOKEN=$("$BIN" dev-token --role service --sub 33333333-3333-4333-8333-333333333333 --jwt-secret "$SECRET")
"$BIN" --database-url "$PG_URL" --jwt-secret "$SECRET" --bind "127.0.0.1:$PORT" --db-pool-size 16 \
  --mailbox-dir target/bench/outbox --unknown-payer-policy commercial >target/bench/one-client-server.log 2>&1 &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null || true; wait $SERVER_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do curl -fs "$BASE/ready" >/dev/null 2>&1 && break; sleep 0.5; done
BENCH_WARMUP=1 wrk -t1 -c1 -d2s -s bench/wrk/consultation.lua "$BASE" >/dev/null
single=$(wrk -t1 -c1 -d"${SECONDS_EACH}s" --latency -s bench/wrk/consultation.lua "$BASE" | python3 bench/parse_wrk.py)
echo "bench: one client, one event a request: ${single%%|*} converted events/s (p50 $(echo "$single" | cut -d'|' -f2) ms)"
BENCH_WARMUP=1 wrk -t1 -c1 -d2s --timeout 60s -s bench/wrk/consultation_batch.lua "$BASE" >/dev/null
out=$(wrk -t1 -c1 -d"${SECONDS_EACH}s" --timeout 60s --latency -s bench/wrk/consultation_batch.lua "$BASE")
converted=$(printf '%s\n' "$out" | sed -n 's/^Converted events: \([0-9]*\) of .*/\1/p')
echo "bench: one client, batches of 100: $((converted / SECONDS_EACH)) converted events/s (p50 $(printf '%s\n' "$out" | python3 bench/parse_wrk.py | cut -d'|' -f2) ms a batch)"
