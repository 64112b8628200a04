#!/usr/bin/env bash
# A cluster on loopback that you can start and break (issue #33), from Debian's packages:
#   etcd 3 (one member), three PostgreSQL 15 nodes managed by Patroni 3, HAProxy 2.6 with a
#   primary port and a replica port health-checked against Patroni's REST API (/primary,
#   /replica?lag=), three `referral-api serve` instances (in-process workers off) behind a
#   second HAProxy frontend checked on /ready, two `referral-api worker` processes, a mock
#   SendGrid and webhook receiver, and Prometheus 2 scraping every instance and HAProxy.
# It runs a mixed load for CLUSTER_SECONDS (60) with Locust, and during it kill -9s one API
# instance, one worker, and the primary's node (its Patroni and its PostgreSQL: the machine
# dying, so that a replica must take over; a lone postmaster killed under a live Patroni is
# only restarted in place). Afterwards it lets the outbox drain and checks the database, the
# receiver, the audit chain and Prometheus; it prints one table and writes it to
# bench/results/cluster.md. Everything lives under target/cluster and is removed at the
# start of the next run; the machine's own PostgreSQL on 5432 is not touched.
#
# Run by hand (`just cluster`), as root on a Debian 12 machine: it installs what it needs.
# It is not part of CI (about 5 minutes, and it needs both cores to itself).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DIR=$ROOT/target/cluster
SECONDS_OF_LOAD="${CLUSTER_SECONDS:-60}"
USERS="${CLUSTER_USERS:-24}"
BIN=$ROOT/target/release/referral-api
SECRET="cluster-secret-cluster-secret-cluster-secret"
METRICS_TOKEN="cluster-metrics-token-0123456789"
export REFERRAL_DATA_KEYS="cluster=636c75737465722d646174612d6b65792d636c75737465722d646174612d3031"
# Ports, apart from the machine's own services.
ETCD=23790 ETCD_PEER=23800
PG_PORTS=(25432 25433 25434) REST_PORTS=(28008 28009 28010)
PRIMARY=25000 REPLICAS=25001 API=28080 HAPROXY_METRICS=28404
API_PORTS=(28081 28082 28083)
RECEIVER=28090 PROMETHEUS=29090
DB=referrals
PRIMARY_URL="postgres://postgres@127.0.0.1:$PRIMARY/$DB?connect_timeout=2"
REPLICA_URL="postgres://postgres@127.0.0.1:$REPLICAS/$DB?connect_timeout=2"
say() { echo "cluster: $*"; }

# --- what it needs -------------------------------------------------------------------------
need=()
command -v patroni >/dev/null || need+=(patroni)
command -v etcd >/dev/null || need+=(etcd-server etcd-client)
command -v haproxy >/dev/null || need+=(haproxy)
command -v prometheus >/dev/null || need+=(prometheus)
[ -f /usr/share/postgresql/15/extension/pg_partman.control ] || need+=(postgresql-15-partman)
/usr/bin/python3 -c "import psycopg2" 2>/dev/null || need+=(python3-psycopg2)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]} (Debian; their services are not started)"
  # A policy-rc.d that refuses keeps the packages' own services from starting.
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
LOCUST=$ROOT/target/locust-venv/bin/locust
if [ ! -x "$LOCUST" ]; then
  say "installing Locust 2.47.0 (PyPI) into target/locust-venv"
  python3 -m venv "$ROOT/target/locust-venv"
  "$ROOT/target/locust-venv/bin/pip" install -q locust==2.47.0
fi
say "building the release binary"
cargo build --release -q -p referral-api

# --- a clean start -------------------------------------------------------------------------
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  pkill -f "$DIR/" 2>/dev/null || true
  sleep 1
  pkill -9 -f "$DIR/" 2>/dev/null || true
}
trap cleanup EXIT
pkill -9 -f "$DIR/" 2>/dev/null || true
rm -rf "$DIR"
mkdir -p "$DIR"/{etcd,run,out,data,sock}
chown postgres:postgres "$DIR" "$DIR/sock"
# Patroni and PostgreSQL run as the postgres user: it must reach target/cluster.
chmod o+x "$ROOT" "$ROOT/target" "$DIR"
OUT=$DIR/out

start() { # name, command...: in the background, logging to out/NAME.log
  local name=$1; shift
  "$@" >"$OUT/$name.log" 2>&1 &
  PIDS+=($!)
  echo $! >"$DIR/run/$name.pid"
}

say "starting etcd"
start etcd etcd --name cluster --data-dir "$DIR/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD" --advertise-client-urls "http://127.0.0.1:$ETCD" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
  --initial-cluster "cluster=http://127.0.0.1:$ETCD_PEER"
for _ in $(seq 50); do etcdctl --endpoints "127.0.0.1:$ETCD" endpoint health >/dev/null 2>&1 && break; sleep 0.2; done

# Fast failover: the leader key lives ttl 20 s, each node looks every
# loop_wait 2 s, and a DCS or PostgreSQL call is retried for retry_timeout 5 s
# (loop_wait + 2 × retry_timeout must fit in ttl). A dead primary's key expires within 20 s
# and a replica with at most 1 MB of lag is promoted on its next loop.
for i in 0 1 2; do
  n=$((i + 1))
  cat >"$DIR/patroni$n.yml" <<EOF
scope: referral-cluster
name: pg$n
restapi:
  listen: 127.0.0.1:${REST_PORTS[$i]}
  connect_address: 127.0.0.1:${REST_PORTS[$i]}
etcd3:
  hosts: 127.0.0.1:$ETCD
bootstrap:
  dcs:
    ttl: 20
    loop_wait: 2
    retry_timeout: 5
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: true
      parameters:
        max_connections: 200
        wal_level: replica
        hot_standby: "on"
        wal_log_hints: "on"
        max_wal_senders: 10
        max_replication_slots: 10
        shared_preload_libraries: pg_partman_bgw
  initdb:
    - encoding: UTF8
    - data-checksums
  pg_hba:
    - local all all trust
    - host replication all 127.0.0.1/32 trust
    - host all all 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:${PG_PORTS[$i]}
  connect_address: 127.0.0.1:${PG_PORTS[$i]}
  data_dir: $DIR/data/pg$n
  bin_dir: /usr/lib/postgresql/15/bin
  pgpass: $DIR/data/pgpass$n
  authentication:
    superuser: {username: postgres, password: postgres}
    replication: {username: replicator, password: replicator}
    rewind: {username: rewinder, password: rewinder}
  parameters:
    unix_socket_directories: $DIR/sock
EOF
  chown postgres:postgres "$DIR/patroni$n.yml"
done
chown postgres:postgres "$DIR/data"
say "starting three PostgreSQL nodes under Patroni"
for n in 1 2 3; do
  start "patroni$n" runuser -u postgres -- patroni "$DIR/patroni$n.yml"
  [ $n = 1 ] && for _ in $(seq 100); do curl -fs "127.0.0.1:${REST_PORTS[0]}/primary" >/dev/null && break; sleep 0.5; done
done

cat >"$DIR/haproxy.cfg" <<EOF
global
  maxconn 4000
defaults
  timeout connect 2s
  timeout client 5m
  timeout server 5m
  timeout check 1s
  default-server inter 1s fall 2 rise 1
# PostgreSQL: the node whose Patroni says it is the primary, and the replicas that lag at
# most 1 MB; a node that stops being primary loses its sessions at once.
listen postgres_primary
  mode tcp
  bind 127.0.0.1:$PRIMARY
  option httpchk GET /primary
  http-check expect status 200
  default-server on-marked-down shutdown-sessions
$(for i in 0 1 2; do echo "  server pg$((i + 1)) 127.0.0.1:${PG_PORTS[$i]} check port ${REST_PORTS[$i]}"; done)
listen postgres_replicas
  mode tcp
  bind 127.0.0.1:$REPLICAS
  option httpchk GET /replica?lag=1MB
  http-check expect status 200
  default-server on-marked-down shutdown-sessions
$(for i in 0 1 2; do echo "  server pg$((i + 1)) 127.0.0.1:${PG_PORTS[$i]} check port ${REST_PORTS[$i]}"; done)
# The API instances, checked on /ready; the client's address is passed on (the instances
# trust this proxy with --trusted-proxies). While no instance is ready (no writable
# primary), requests still go to the live ones (checked on /health): writes answer 503
# unavailable within the pool's 1.5 s check-out, and reads served by the replica go on.
frontend api
  mode http
  bind 127.0.0.1:$API
  option forwardfor
  use_backend api_ready if { nbsrv(api_ready) gt 0 }
  default_backend api_live
backend api_ready
  mode http
  balance roundrobin
  option httpchk GET /ready
  http-check expect status 200
  retry-on conn-failure empty-response
  retries 2
  option redispatch
$(for p in "${API_PORTS[@]}"; do echo "  server api$p 127.0.0.1:$p check"; done)
backend api_live
  mode http
  balance roundrobin
  option httpchk GET /health
  http-check expect status 200
  retry-on conn-failure empty-response
  retries 2
  option redispatch
$(for p in "${API_PORTS[@]}"; do echo "  server api$p 127.0.0.1:$p check"; done)
frontend metrics
  mode http
  bind 127.0.0.1:$HAPROXY_METRICS
  http-request use-service prometheus-exporter if { path /metrics }
EOF
say "starting HAProxy"
start haproxy haproxy -db -f "$DIR/haproxy.cfg"
# HAProxy takes every server for up until its checks say otherwise (fall 2, 1 s apart).
sleep 3
for _ in $(seq 100); do
  psql -qtA "postgres://postgres@127.0.0.1:$PRIMARY/postgres" -c "SELECT 1" >/dev/null 2>&1 && break; sleep 0.5
done
psql -q "postgres://postgres@127.0.0.1:$PRIMARY/postgres" -c "CREATE DATABASE $DB"
psql -q "postgres://postgres@127.0.0.1:$PRIMARY/$DB" -c "CREATE TABLE cluster_probe (at timestamptz NOT NULL)"

say "migrating and seeding demo data"
"$BIN" migrate --database-url "$PRIMARY_URL" >"$OUT/migrate.log" 2>&1
"$BIN" seed-demo --database-url "$PRIMARY_URL" --referrals "${CLUSTER_REFERRALS:-20000}" >"$OUT/seed.log" 2>&1
start receiver python3 "$ROOT/bench/cluster/receiver.py" "$RECEIVER" "$OUT/received.jsonl"

COMMON=(--jwt-secret "$SECRET" --metrics-token "$METRICS_TOKEN" --log-format json
  --db-pool-size 8 --db-checkout-timeout-ms 1500 --db-statement-timeout-ms 2000
  --sendgrid-api-key cluster-key --sendgrid-base-url "http://127.0.0.1:$RECEIVER"
  --email-from referrals@cluster.example.com --postal-address "1 Cluster Way, Springfield"
  --webhooks-allow-private --public-base-url "http://127.0.0.1:$API")
for p in "${API_PORTS[@]}"; do
  start "api$p" "$BIN" serve --database-url "$PRIMARY_URL" --replica-url "$REPLICA_URL" \
    --bind "127.0.0.1:$p" --worker-interval 0 --trusted-proxies 127.0.0.1/32 \
    --patient-daily-referrals 100000 --public-rate-limit 1000000 --service-rate-limit 1000000 \
    "${COMMON[@]}"
done
for w in 1 2; do
  start "worker$w" "$BIN" worker --database-url "$PRIMARY_URL" --worker-interval 1 \
    --metrics-bind "127.0.0.1:$((28100 + w))" "${COMMON[@]}"
done
for p in "${API_PORTS[@]}"; do
  for _ in $(seq 100); do curl -fs "127.0.0.1:$p/ready" >/dev/null && break; sleep 0.3; done
done

cat >"$DIR/prometheus.yml" <<EOF
global:
  scrape_interval: 2s
scrape_configs:
  - job_name: referral-api
    authorization: {credentials: $METRICS_TOKEN}
    static_configs:
      - targets: [$(printf '"127.0.0.1:%s",' "${API_PORTS[@]}" | sed 's/,$//')]
  - job_name: referral-worker
    static_configs:
      - targets: ["127.0.0.1:28101", "127.0.0.1:28102"]
  - job_name: haproxy
    static_configs:
      - targets: ["127.0.0.1:$HAPROXY_METRICS"]
EOF
say "starting Prometheus"
start prometheus prometheus --config.file "$DIR/prometheus.yml" --storage.tsdb.path "$DIR/prometheus" \
  --web.listen-address "127.0.0.1:$PROMETHEUS"

# --- the load's inputs ---------------------------------------------------------------------
DATA=$DIR/load
mkdir -p "$DATA"
ADMIN=$("$BIN" dev-token --role admin --sub 11111111-1111-4111-8111-111111111111 --jwt-secret "$SECRET")
SERVICE=$("$BIN" dev-token --role service --sub 33333333-3333-4333-8333-333333333333 --jwt-secret "$SECRET")
PROGRAM_ID=$(psql -qtA "$PRIMARY_URL" -c "SELECT id FROM referral_programs WHERE status = 'active' AND max_referrals_per_patient IS NULL AND target_conditions = '{}' ORDER BY created_at LIMIT 1")
# Codes that still work (an expired one answers 410, as it should, and measures nothing).
psql -qtA "$PRIMARY_URL" -c "SELECT referral_code FROM referrals WHERE status IN ('pending', 'registered') AND expires_at > now() + interval '1 day' ORDER BY random() LIMIT 5000" >"$DATA/codes.txt"
psql -qtA "$PRIMARY_URL" -c "SELECT referral_code FROM referrals WHERE status = 'pending' AND expires_at > now() + interval '1 day' ORDER BY random() LIMIT 3000" >"$DATA/register_codes.txt"
psql -qtA "$PRIMARY_URL" -c "SELECT referee_patient_id FROM referrals WHERE status = 'registered' AND referee_patient_id IS NOT NULL ORDER BY random() LIMIT 3000" >"$DATA/registered.txt"
psql -qtA -F' ' "$PRIMARY_URL" -c "SELECT id, email FROM patients WHERE email LIKE 'referrer%' LIMIT 64" |
  while read -r id email; do
    "$BIN" dev-token --role patient --sub "$id" --email "$email" --ttl 7200 --jwt-secret "$SECRET"
  done >"$DATA/tokens.txt"
# A webhook endpoint at the receiver, for every event type.
curl -fs -o /dev/null -H "Authorization: Bearer $ADMIN" -H 'content-type: application/json' \
  -d "{\"url\":\"http://127.0.0.1:$RECEIVER/hook\",\"events\":[\"referral.created\",\"referral.registered\",\"referral.converted\",\"reward.granted\",\"reward.available\"]}" \
  "http://127.0.0.1:$API/api/webhooks"

# --- the run -------------------------------------------------------------------------------
start probe /usr/bin/python3 "$ROOT/bench/cluster/probe.py" \
  "host=127.0.0.1 port=$PRIMARY dbname=$DB user=postgres" "$OUT/probe.log"
LEADER_PORT() { curl -fs "127.0.0.1:$1/primary" >/dev/null; }
say "loading for ${SECONDS_OF_LOAD}s with $USERS Locust users"
START=$(date +%s.%N)
CLUSTER_DATA=$DATA CLUSTER_OUT=$OUT SERVICE_TOKEN=$SERVICE ADMIN_TOKEN=$ADMIN PROGRAM_ID=$PROGRAM_ID \
  "$LOCUST" -f "$ROOT/bench/cluster/locustfile.py" --headless -u "$USERS" -r "$USERS" \
  -t "${SECONDS_OF_LOAD}s" -H "http://127.0.0.1:$API" --csv "$OUT/locust" --only-summary \
  >"$OUT/locust.log" 2>&1 &
LOAD=$!
: >"$OUT/kills.txt"
sleep 10
kill -9 "$(cat "$DIR/run/api${API_PORTS[1]}.pid")"
echo "$(date +%s.%N) api ${API_PORTS[1]}" >>"$OUT/kills.txt"; say "killed API instance ${API_PORTS[1]}"
sleep 5
kill -9 "$(cat "$DIR/run/worker1.pid")"
echo "$(date +%s.%N) worker 1" >>"$OUT/kills.txt"; say "killed worker 1"
sleep 5
LEADER=""
for i in 0 1 2; do LEADER_PORT "${REST_PORTS[$i]}" && LEADER=$((i + 1)); done
POSTMASTER=$(head -1 "$DIR/data/pg$LEADER/postmaster.pid")
# The recorded pid is runuser's: Patroni is its child.
pkill -9 -f "patroni $DIR/patroni$LEADER.yml"
kill -9 "$POSTMASTER" 2>/dev/null || true
pkill -9 -f "$DIR/data/pg$LEADER" 2>/dev/null || true
echo "$(date +%s.%N) primary pg$LEADER" >>"$OUT/kills.txt"; say "killed the primary's node, pg$LEADER (Patroni and PostgreSQL)"
wait "$LOAD" || true
END=$(date +%s.%N)
say "load done; waiting for a primary and for the outbox to drain"
# The killed worker's claimed messages go out again once their 60 s lease ends.
for _ in $(seq 240); do
  left=$(psql -qtA "$PRIMARY_URL" -c "SELECT count(*) FROM outbox WHERE status IN ('queued', 'sending')" 2>/dev/null || echo x)
  [ "$left" = 0 ] && break
  sleep 1
done
NEW_LEADER=""
for i in 0 1 2; do LEADER_PORT "${REST_PORTS[$i]}" && NEW_LEADER=$((i + 1)); done

# --- the checks ----------------------------------------------------------------------------
say "checking"
q() { psql -qtA "$PRIMARY_URL" -c "$1"; }
python3 - "$OUT/events.json" >"$OUT/event_ids.txt" <<'EOF'
import json, sys
for e in json.load(open(sys.argv[1])):
    r = e["result"]
    outcome = r.get("outcome") or r.get("result")
    print(e["kind"], e["event_id"], e["patient_id"], outcome)
EOF
psql -q "$PRIMARY_URL" -c "CREATE TEMP TABLE x(kind text, event_id uuid, patient_id uuid, outcome text)" \
  -c "\\copy x FROM '$OUT/event_ids.txt' WITH (DELIMITER ' ')" -At -F' ' -c "
SELECT 'converted_events', count(*) FROM x WHERE outcome = 'converted';
SELECT 'converted_events_not_converted_in_db', count(*) FROM x JOIN referrals r ON r.referee_patient_id = x.patient_id
  WHERE x.outcome = 'converted' AND r.status NOT IN ('converted', 'rewarded');
SELECT 'referees_converted_twice', count(*) FROM (SELECT patient_id FROM x WHERE outcome = 'converted' GROUP BY 1 HAVING count(*) > 1) d;
SELECT 'events_recorded_twice', count(*) FROM (SELECT event_type, event_id FROM processed_events GROUP BY 1, 2 HAVING count(*) > 1) d;
SELECT 'rewards_twice_for_one_party', count(*) FROM (SELECT referral_id, party FROM referral_rewards GROUP BY 1, 2 HAVING count(*) > 1) d;
SELECT 'rewards_used_twice', count(*) FROM (SELECT used_on_order_id FROM referral_rewards WHERE used_on_order_id IS NOT NULL GROUP BY 1 HAVING count(*) > 1) d;
SELECT 'outbox_keys_queued_twice', count(*) FROM (SELECT idempotency_key FROM outbox GROUP BY 1 HAVING count(*) > 1) d;
SELECT 'outbox_left_undelivered', count(*) FROM outbox WHERE status IN ('queued', 'sending', 'failed');
SELECT 'outbox_sent', count(*) FROM outbox WHERE status = 'sent';
" >"$OUT/db_checks.txt" 2>"$OUT/db_checks.err" || true
if "$BIN" audit verify --database-url "$PRIMARY_URL" >"$OUT/audit_verify.log" 2>&1; then
  echo "audit_chain ok" >>"$OUT/db_checks.txt"
else
  echo "audit_chain broken" >>"$OUT/db_checks.txt"
fi
FROM_TS=${START%.*} TO_TS=${END%.*}
curl -fs "127.0.0.1:$PROMETHEUS/api/v1/query_range" --data-urlencode \
  'query=sum by (instance) (referral_http_request_duration_seconds_count)' \
  --data-urlencode "start=$FROM_TS" --data-urlencode "end=$TO_TS" --data-urlencode step=5 \
  >"$OUT/prometheus.json" || echo '{}' >"$OUT/prometheus.json"
python3 bench/cluster/report.py "$OUT" "$START" "$END" "$LEADER" "$NEW_LEADER" "$USERS" | tee bench/results/cluster.md
