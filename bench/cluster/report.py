"""The cluster run's table, from what bench/cluster.sh left in OUT: Locust's statistics
and failures, the write log, the primary probe, the kills, the receiver's log, the
database checks and Prometheus's answer.

Usage: python3 report.py OUT START END OLD_LEADER NEW_LEADER USERS
"""

import collections
import csv
import datetime
import json
import os
import re
import sys

out, start, end = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
old_leader, new_leader, users = sys.argv[4], sys.argv[5], sys.argv[6]
checks_failed = []


def read(name):
    return open(os.path.join(out, name)).read()


print("# Cluster run")
print()
stamp = datetime.datetime.fromtimestamp(start, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
print(f"{stamp}, {end - start:.0f} s of load, {users} Locust users through HAProxy; "
      "3 PostgreSQL 15 nodes under Patroni (etcd 3), 3 API instances, 2 workers, on one "
      "2-core machine (`bash bench/cluster.sh`).")
print()

print("## Throughput and latency by kind")
print()
print("| kind | requests | req/s | p50 ms | p99 ms | failures |")
print("|---|---:|---:|---:|---:|---:|")
with open(os.path.join(out, "locust_stats.csv")) as f:
    for row in csv.DictReader(f):
        name = "all" if row["Name"] == "Aggregated" else row["Name"]
        print(f"| {name} | {row['Request Count']} | {float(row['Requests/s']):.0f} | "
              f"{row['50%']} | {row['99%']} | {row['Failure Count']} |")
print()

print("## Errors by status")
print()
by_status = collections.Counter()
with open(os.path.join(out, "locust_failures.csv")) as f:
    for row in csv.DictReader(f):
        match = re.search(r"status (\d+)", row["Error"])
        key = (row["Name"], match.group(1) if match else row["Error"][:60])
        by_status[key] += int(row["Occurrences"])
if by_status:
    print("| kind | status | count |")
    print("|---|---|---:|")
    for (name, status), n in sorted(by_status.items()):
        print(f"| {name} | {status} | {n} |")
else:
    print("None.")
print()

print("## Failures injected")
print()
kills = [line.split(" ", 1) for line in read("kills.txt").splitlines() if line.strip()]
for at, what in kills:
    print(f"- at {float(at) - start:.1f} s: `kill -9` of {what}")
primary_killed = next((float(at) for at, what in kills if what.startswith("primary")), None)
print(f"- leader before: pg{old_leader}; after: pg{new_leader or '(none)'}")
print()

print("## Primary loss")
print()
probe = []
for line in read("probe.log").splitlines():
    parts = line.split()
    if len(parts) >= 2:
        probe.append((float(parts[0]), parts[1] == "ok"))
down = 0.0
for (t0, ok0), (t1, _) in zip(probe, probe[1:]):
    if not ok0 and start <= t0 <= end + 120:
        down += t1 - t0
first_probe_ok = next((t for t, ok in probe if primary_killed and t > primary_killed and ok), None)
writes = json.load(open(os.path.join(out, "requests.json")))
first_api_write = None
# The first successful API write sent after the primary died and the probe first failed (a
# write that was already in flight on the old primary is not the answer).
first_fail = next((t for t, ok in probe if primary_killed and t > primary_killed and not ok), None)
for t, _, status in sorted(writes):
    if first_fail and t > first_fail and 200 <= status < 300:
        first_api_write = t
        break
slow_503 = [s for t, k, s in writes if s == 503]
print("| measure | value |")
print("|---|---:|")
print(f"| seconds without a writable primary (probe every 200 ms) | {down:.1f} |")
if primary_killed:
    if first_probe_ok:
        print(f"| seconds from the kill to the probe's first write | {first_probe_ok - primary_killed:.1f} |")
    if first_api_write:
        print(f"| seconds from the kill to the first successful API write | {first_api_write - primary_killed:.1f} |")
    else:
        checks_failed.append("no API write succeeded after the primary died")
        print("| seconds from the kill to the first successful API write | none |")
print(f"| write requests answered 503 | {len(slow_503)} |")
print()

print("## Checks")
print()
db = {}
for line in read("db_checks.txt").splitlines():
    parts = line.split()
    if len(parts) == 2:
        db[parts[0]] = parts[1]
received = [json.loads(line) for line in read("received.jsonl").splitlines() if line.strip()]
keys = collections.Counter((r["kind"], r["key"]) for r in received if r["key"])
duplicates = sum(n - 1 for n in keys.values() if n > 1)
emails = sum(1 for (kind, _) in keys if kind == "email")
hooks = sum(1 for (kind, _) in keys if kind == "webhook")
prom = json.load(open(os.path.join(out, "prometheus.json")))
series = prom.get("data", {}).get("result", [])
instances = sorted(s["metric"].get("instance", "?") for s in series)
samples = sum(len(s.get("values", [])) for s in series)


def check(name, ok, detail):
    if not ok:
        checks_failed.append(name)
    print(f"| {name} | {'yes' if ok else '**no**'} | {detail} |")


print("| check | holds | detail |")
print("|---|---|---|")
check("every accepted event converted exactly once",
      db.get("converted_events_not_converted_in_db") == "0" and db.get("referees_converted_twice") == "0"
      and db.get("events_recorded_twice") == "0",
      f"{db.get('converted_events')} conversions answered; "
      f"{db.get('converted_events_not_converted_in_db')} not converted in the database, "
      f"{db.get('referees_converted_twice')} referees converted twice, "
      f"{db.get('events_recorded_twice')} event ids recorded twice")
check("no referral or batch rewarded twice", db.get("rewards_twice_for_one_party") == "0",
      f"{db.get('rewards_twice_for_one_party')} referral parties with two rewards")
check("no reward redeemed or paid twice",
      db.get("rewards_used_twice") == "0" and db.get("outbox_keys_queued_twice") == "0",
      f"{db.get('rewards_used_twice')} orders using two rewards, "
      f"{db.get('outbox_keys_queued_twice')} outbox keys queued twice")
check("every outbox message delivered, and received once by its id",
      db.get("outbox_left_undelivered") == "0",
      f"{db.get('outbox_sent')} sent, {db.get('outbox_left_undelivered')} not sent after the drain; "
      f"the receiver saw {emails} emails and {hooks} webhooks by distinct id, "
      f"{duplicates} repeated deliveries (at least once: a receiver is idempotent by "
      "`custom_args.idempotency_key` and `webhook-id`)")
check("the audit chain verifies (no gap, no fork)", db.get("audit_chain") == "ok",
      "`referral-api audit verify` on the new primary")
check("Prometheus holds the run's series", len(instances) >= 2 and samples > 0,
      f"{len(instances)} instances with `referral_http_request_duration_seconds`, {samples} samples")
print()
if checks_failed:
    print("Failed: " + "; ".join(checks_failed) + ".")
    sys.exit(1)
print("All checks hold.")
