"""Turns the statements PostgreSQL logged for one registration into a pgbench script that
replays them on a fresh pending referral each time: the registration's transaction and the
audit row written after it, on the connection that served it, exactly as sent, with the
logged parameters as literals except those that name the registration (the code, the
referral, its referrer, the new patient and their address, the referral's cohort day), which
come from one row of `bench_reg` per transaction (all of the captured referral's program), and
the times and new row ids, which are made afresh. Usage:
pgbench_registration.py LOG FROM END CODE REFERRAL REFERRER PROGRAM DAY PATIENT EMAIL OUT"""
import re
import sys

log, start, stop = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
code, referral, referrer, program, day, patient, email, out = sys.argv[4:12]
raw = open(log, "rb").read()[start:stop].decode("utf-8", "replace")

ENTRY = re.compile(r"^\S+ \S+ \S+ \[(\d+)\] \S*\s*([A-Z]+):\s+(.*)$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}")

entries = []
for line in raw.split("\n"):
    m = ENTRY.match(line)
    if m:
        entries.append([m.group(1), m.group(2), m.group(3)])
    elif entries and line.startswith("\t"):
        entries[-1][2] += "\n" + line[1:]
statements = []
for pid, kind, body in entries:
    if kind == "LOG":
        m = re.match(r"(?:execute [^:]*|statement): (.*)$", body, re.S)
        if m:
            statements.append([pid, m.group(1).strip(), {}])
    elif kind == "DETAIL" and body.startswith("parameters:") and statements:
        statements[-1][2] = dict(
            (int(k), v) for k, v in re.findall(r"\$(\d+) = ('(?:[^']|'')*'|NULL)", body))

# The connection that registered: the one that inserted the patient.
conn = next(s[0] for s in statements if s[1].startswith('INSERT INTO "patients"'))
mine = [s for s in statements if s[0] == conn]
first = max(i for i, s in enumerate(mine) if s[1] == "BEGIN"
            and i < next(j for j, t in enumerate(mine) if t[1].startswith('INSERT INTO "patients"')))
audit = next(i for i, s in enumerate(mine) if i > first and s[1].startswith('INSERT INTO "audit_log"'))
own = mine[first:audit + 1]

named = {code: ":code", referral: ":rid", referrer: ":referrer", patient: ":pid", email: ":email",
         day: ":day", program: f"'{program}'"}


def value(logged):
    if logged == "NULL":
        return "NULL"
    text = logged[1:-1].replace("''", "'")
    if text in named:
        return named[text]
    if TIME.match(text):
        return "now()"
    if UUID.match(text):
        # A row id the registration made (interaction, reward, outbox, audit row).
        return "gen_random_uuid()"
    return logged


lines = [
    "-- Every statement of one registration, from PostgreSQL's statement log.",
    "SELECT id AS rid, code, referrer, day, gen_random_uuid() AS pid, "
    "'bench-reg-' || gen_random_uuid() || '@bench.example.com' AS email "
    "FROM bench_reg WHERE n = (SELECT nextval('bench_reg_seq')) \\gset",
]
for _pid, sql, params in own:
    for k in sorted(params, reverse=True):
        sql = re.sub(r"\$%d(?!\d)" % k, value(params[k]), sql)
    lines.append(sql + ";")
open(f"{out}/pgbench-registration.sql", "w").write("\n".join(lines) + "\n")
print(f"pgbench registration script written to {out} ({len(own)} statements)")
