# Conveniences; the README's cargo commands work without `just` (cargo install just).

# Run the service (SQLite under ./data, 127.0.0.1:8080).
run *ARGS:
    cargo run -- {{ARGS}}

# Every test; set TEST_DATABASE_URL to run the store and API suites on PostgreSQL too.
test:
    cargo test --workspace

# Formatting and lints as CI checks them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# What CI runs (starts PostgreSQL if it is down).
ci:
    bash .ci/run

# Query plans of the hot reads on PostgreSQL (docs/performance.md).
explain:
    psql "${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}" -f docs/explain.sql

# Benchmarks (release build; see docs/performance.md and docs/scaling.md). Seeds 1,000,000
# referrals into PostgreSQL (kept as database bench_analytics_1000000, and seeded again once
# the conversion runs have used up its registered referrals, which is most runs) and 100,000
# into SQLite, times the analytics endpoints, then loads the hot paths with wrk against pgbench.
bench:
    bash bench/analytics.sh
    bash bench/load.sh
    bash bench/rate_limit_hit.sh

# One platform client: single consultation events against batches of 100 (after `just bench`).
bench-batch-one-client:
    bash bench/batch_one_client.sh

# Not a target: where a conversion's cost goes, by pgbench alone, against copies of the
# bench database (after `just bench`; docs/scaling.md reads the table).
bench-conversion-parts:
    bash bench/conversion_parts/run.sh

# A PostgreSQL cluster that fails over (Patroni, etcd, HAProxy, Prometheus from Debian),
# three API instances and two workers on loopback, a 60 s mixed load with kill -9s, and
# the checks; writes bench/results/cluster.md. By hand, not in CI (docs/scaling.md).
cluster:
    bash bench/cluster.sh
