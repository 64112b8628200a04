#!/usr/bin/env bash
# The cost of one shared rate-limit hit (#33): the service's own statement
# (referral_store::limits::hit) on an UNLOGGED table, by pgbench, 1 and 8 clients, over
# 1,000 keys in one minute window. Writes bench/results/rate_limit_hit.md.
# Usage: bash bench/rate_limit_hit.sh [SECONDS]   (PostgreSQL at 127.0.0.1:5432, trust)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-8}"
db="bench_rate_limit_$$"
psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $db"
trap 'psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $db"; rm -f "$script"' EXIT
# The table as the migration makes it.
psql -q -h 127.0.0.1 -U postgres -d "$db" -f migrations/postgres/2026-12-07-000029_rate_limit_hits/up.sql
script=$(mktemp)
cat > "$script" <<'SQL'
\set k random(1, 1000)
INSERT INTO rate_limit_hits (key, window_start, hits) VALUES (md5(:k::text), date_trunc('minute', now()), 1) ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limit_hits.hits + 1 RETURNING hits;
SQL
out=bench/results/rate_limit_hit.md
{
  echo "# One shared rate-limit hit (bench/rate_limit_hit.sh, ${seconds} s each, $(nproc) cores, $(date -u +%Y-%m-%d))"
  echo
  echo "| clients | hits/s | mean latency (ms) |"
  echo "|---|---|---|"
  for clients in 1 8; do
    result=$(pgbench -n -h 127.0.0.1 -U postgres -f "$script" -c "$clients" -j "$clients" -T "$seconds" -M prepared "$db" 2>&1)
    tps=$(echo "$result" | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
    latency=$(echo "$result" | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')
    echo "| $clients | ${tps%.*} | $latency |"
  done
} > "$out"
cat "$out"
