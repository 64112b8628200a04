#!/usr/bin/env bash
# Where a conversion's cost goes, by pgbench alone (no service): the bare status update plus
# ledger row, our conversion's own statements, and three single-statement conversions in
# between. Not a target; docs/scaling.md reads the figures. Needs a finished
# `bash bench/load.sh` (its captured scripts in target/bench and its bench database, used as
# a template: each run gets a fresh copy, so no run meets referrals another converted).
#   ROUNDS (3) rounds of PARTS_SECONDS (8) per script, 16 clients, a CHECKPOINT before each run.
# The three CTE scripts (minimal, minimal_without_event, all_rows) write fixed reward values
# (a $30.00 credit, as the demo programs pay): what they measure is which rows are written.
set -euo pipefail
cd "$(dirname "$0")/../.."
PGHOST="${PGHOST:-127.0.0.1}"
ADMIN="postgres://postgres@${PGHOST}:5432/test"
TEMPLATE="bench_analytics_${BENCH_PG_REFERRALS:-1000000}"
COPY=bench_conversion_parts
URL="postgres://postgres@${PGHOST}:5432/$COPY"
ROUNDS="${ROUNDS:-3}" SECONDS_PER_RUN="${PARTS_SECONDS:-8}"
HERE=bench/conversion_parts
OUT=target/bench/conversion_parts
FULL=target/bench/pgbench-conversion-full.sql BARE=target/bench/pgbench-conversion.sql
[ -f "$FULL" ] && [ -f "$BARE" ] || { echo "parts: run bash bench/load.sh first (it captures $FULL and $BARE)" >&2; exit 1; }
mkdir -p "$OUT"
trap 'psql -q "$ADMIN" -c "DROP DATABASE IF EXISTS $COPY" >/dev/null 2>&1 || true' EXIT

# Every script draws its referral from bench_conv by a sequence, one per transaction.
head_lines=("SELECT nextval('bench_conv_seq') AS n \\gset" "BEGIN;")
begin_call=$(grep 'referral_event_begin(' "$FULL")
# The consultation the captured conversion names as first_consultation_id (a foreign key).
consultation=$(grep -o "first_consultation_id\": \"[0-9a-f-]*\"" "$FULL" | head -1 | grep -o '[0-9a-f-]\{36\}')
[ -n "$consultation" ] || { echo "parts: $FULL names no first_consultation_id; run bash bench/load.sh again" >&2; exit 1; }
# The CTE files hold one statement each, CONSULTATION_ID standing for the captured one.
cte() { sed "s/CONSULTATION_ID/$consultation/" "$HERE/$1.sql"; }
printf '%s\n' "${head_lines[@]}" "$(cte minimal)" "COMMIT;" >"$OUT/minimal.sql"
printf '%s\n' "${head_lines[@]}" "$begin_call" "$(cte minimal_without_event)" "COMMIT;" >"$OUT/minimal_plus_begin.sql"
printf '%s\n' "${head_lines[@]}" "$(cte all_rows)" "COMMIT;" >"$OUT/all_rows.sql"
cp "$FULL" "$OUT/ours.sql"
sed 's/bench_registered_seq/bench_conv_seq/g; s/bench_registered WHERE/bench_conv WHERE/g' "$BARE" >"$OUT/bare.sql"

run() { # script
  psql -q "$ADMIN" -c "DROP DATABASE IF EXISTS $COPY" -c "CREATE DATABASE $COPY TEMPLATE $TEMPLATE" >/dev/null
  psql -q "$URL" -c "INSERT INTO consultations (id, patient_id, occurred_at, created_at) SELECT '$consultation', id, now(), now() FROM patients LIMIT 1 ON CONFLICT DO NOTHING" \
    -c "DROP TABLE IF EXISTS bench_conv" -c "DROP SEQUENCE IF EXISTS bench_conv_seq" -c "CREATE SEQUENCE bench_conv_seq" \
    -c "CREATE TABLE bench_conv AS SELECT row_number() OVER () AS n, * FROM (SELECT r.id, r.referee_patient_id AS referee, r.referrer_id AS referrer, r.program_id AS program, to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, coalesce(r.variant, '') AS variant FROM referrals r WHERE r.status = 'registered' ORDER BY random() LIMIT 60000) x" \
    -c "CREATE UNIQUE INDEX ON bench_conv (n)" -c "ANALYZE bench_conv" -c "CHECKPOINT" >/dev/null
  local out
  out=$(pgbench -n -M prepared -c 16 -j 4 -T "$SECONDS_PER_RUN" -f "$OUT/$1.sql" "$URL" 2>&1) ||
    { printf '%s\n' "$out" | tail -20 >&2; echo "parts: pgbench $1 failed" >&2; exit 1; }
  printf '%s\n' "$out" | python3 bench/parse_pgbench.py | cut -d'|' -f1
}
SCRIPTS=(bare ours minimal minimal_plus_begin all_rows)
declare -A SUM
for round in $(seq 1 "$ROUNDS"); do
  for s in "${SCRIPTS[@]}"; do
    tps=$(run "$s")
    echo "parts: round $round, $s: $tps/s"
    SUM[$s]=$(python3 -c "print(${SUM[$s]:-0} + $tps)")
  done
done
echo
echo "| pgbench script (16 clients, ${SECONDS_PER_RUN} s, mean of $ROUNDS) | tx/s | of bare |"
echo "|---|---:|---:|"
for s in "${SCRIPTS[@]}"; do
  python3 -c "m = ${SUM[$s]} / $ROUNDS; b = ${SUM[bare]} / $ROUNDS; print(f'| $s | {m:.0f} | {m / b:.2f} |')"
done
