"""Turns the statements PostgreSQL logged for one click and one conversion into pgbench
scripts: the statement texts exactly as sent, with the logged parameters as literals, except
those that must differ per run (new ids, the code or referral acted on, the time, the unique
party of a ledger row), which become pgbench expressions. Usage:
pgbench_scripts.py LOG CLICK_FROM EVENT_FROM END OUT_DIR"""
import re
import sys

log, click_from, event_from, end, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
raw = open(log, "rb").read()

ENTRY = re.compile(r"^\S+ \S+ \S+ \[(\d+)\] \S*\s*(LOG|DETAIL):\s+(.*)$")


def statements(start, stop):
    """(pid, sql, params) in log order between two byte offsets."""
    text = raw[start:stop].decode("utf-8", "replace")
    entries = []
    for line in text.split("\n"):
        m = ENTRY.match(line)
        if m:
            entries.append([m.group(1), m.group(2), m.group(3)])
        elif entries and line.startswith("\t"):
            entries[-1][2] += "\n" + line[1:]
    out_list = []
    for pid, kind, body in entries:
        if kind == "LOG":
            m = re.match(r"(?:execute [^:]*|statement): (.*)$", body, re.S)
            if m:
                out_list.append([pid, m.group(1).strip(), {}])
        elif kind == "DETAIL" and body.startswith("parameters:") and out_list:
            params = {}
            for k, v in re.findall(r"\$(\d+) = ('(?:[^']|'')*'|NULL)", body):
                params[int(k)] = v
            out_list[-1][2] = params
    return out_list


UUID = re.compile(r"^'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'$")
TIME = re.compile(r"^'\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}")


def bind(sql, params, special):
    """Replaces $n (highest first, so $1 does not eat $12) by literals or expressions."""
    for k in sorted(params, reverse=True):
        value = special.get(k)
        if value is None:
            value = "now()" if TIME.match(params[k]) else params[k]
        sql = re.sub(r"\$%d(?!\d)" % k, value, sql)
    return sql


# The click: the pool's connection check and the insert.
click = statements(click_from, event_from)
insert = next(s for s in click if s[1].startswith('INSERT INTO "referral_interactions"'))
checks = [s for s in click if s[0] == insert[0] and s[1] == "SELECT 1"]
code_param = int(re.search(r'"referral_code" = \$(\d+)', insert[1]).group(1))
special = {code_param: "(SELECT code FROM bench_codes WHERE n = :n)"}
for k, v in insert[2].items():
    if UUID.match(v) and k != code_param:
        special[k] = "gen_random_uuid()"
lines = ["-- The statements of one click, from PostgreSQL's statement log.", "\\set n random(1, :codes)"]
if checks:
    lines.append("SELECT 1;")
lines.append(bind(insert[1], insert[2], special) + ";")
open(f"{out}/pgbench-click.sql", "w").write("\n".join(lines) + "\n")

# The conversion: its status update and the ledger row, in one transaction.
event = statements(event_from, end)
update = next(s for s in event if s[1].startswith('UPDATE "referrals" SET "status"'))
ledger = next((s for s in event if s[1].startswith('INSERT INTO "referral_rewards"')), None)
if ledger is None:
    sys.exit("the captured conversion wrote no ledger row; pick a referral whose program rewards at once")
id_param = int(re.search(r'"referrals"\."id" = \$(\d+)', update[1]).group(1))
lines = ["-- A conversion's status update and ledger row, from PostgreSQL's statement log.",
         "\\set n random(1, :pool)", "\\set p random(1, 999999999)", "BEGIN;"]
lines.append(bind(update[1], update[2], {id_param: "(SELECT id FROM bench_registered WHERE n = :n)"}) + ";")
columns = re.search(r'INSERT INTO "referral_rewards" \(([^)]*)\)', ledger[1]).group(1)
columns = [c.strip().strip('"') for c in columns.split(",")]
values = re.search(r"VALUES \(([^)]*)\)", ledger[1]).group(1)
params = [int(v.strip()[1:]) for v in values.split(",")]
special = {}
for column, k in zip(columns, params):
    if column == "id":
        special[k] = "gen_random_uuid()"
    elif column == "referral_id":
        special[k] = "(SELECT id FROM bench_registered WHERE n = :n)"
    elif column == "party":
        # Unique per (referral, party): a distinct party keeps repeated draws legal.
        special[k] = "'b' || :p"
lines.append(bind(ledger[1], ledger[2], special) + ";")
lines.append("COMMIT;")
open(f"{out}/pgbench-conversion.sql", "w").write("\n".join(lines) + "\n")
print(f"pgbench scripts written to {out} (click: {len(click)} statements logged, conversion: {len(event)})")

# Not a target: every statement our conversion sent (on its connection: the pool's check, the
# transaction and the audit row), replayed on a fresh registered referral each time. Ids and
# keys that must be new become gen_random_uuid(); the referral, its referee, referrer,
# program, day and variant come from bench_conv, one row per transaction.
ALL_PROGRAMS = "'00000000-0000-0000-0000-000000000000'"
own = [s for s in event if s[0] == update[0] and not s[1].startswith("SET ")]
referral = update[2][id_param]


def insert_columns(sql):
    cols = re.search(r'INSERT INTO "[a-z_]+" \(([^)]*)\)', sql).group(1)
    return [c.strip().strip('"') for c in cols.split(",")]


def insert_params(sql):
    """Column of each $n of an INSERT (multi-row VALUES included)."""
    cols = insert_columns(sql)
    values = sql.split(" VALUES ", 1)[1].split(" ON CONFLICT", 1)[0]
    out_map = {}
    for row in re.findall(r"\(([^()]*)\)", values):
        for col, ph in zip(cols, row.split(",")):
            out_map[int(ph.strip()[1:])] = col
    return out_map


consultation = next(s for s in own if s[1].startswith('INSERT INTO "consultations"'))
referee = consultation[2][{v: k for k, v in insert_params(consultation[1]).items()}["patient_id"]]
referrer = ledger[2][{v: k for k, v in insert_params(ledger[1]).items()}["patient_id"]]
row = lambda col: f"(SELECT {col} FROM bench_conv WHERE n = :n)"
by_value = {referral: row("id"), referee: row("referee"), referrer: row("referrer")}
lines = ["-- Every statement of one conversion, from PostgreSQL's statement log.",
         "SELECT nextval('bench_conv_seq') AS n \\gset"]
for _pid, sql, params in own:
    special = {}
    if sql.startswith("INSERT INTO"):
        for k, col in insert_params(sql).items():
            v = params.get(k)
            if col in ("id", "event_id"):
                special[k] = "gen_random_uuid()"
            elif col == "idempotency_key":
                special[k] = "'bench-' || gen_random_uuid()"
            elif col in ("referral_id",):
                special[k] = row("id")
            elif col in ("patient_id", "referrer_id") and v in by_value:
                special[k] = by_value[v]
            elif col == "program_id" and v != ALL_PROGRAMS:
                special[k] = row("program")
            elif col == "day":
                special[k] = row("day")
            elif col == "variant":
                special[k] = row("variant")
        lines.append(bind(sql, params, special) + ";")
    else:
        for k, v in params.items():
            if v in by_value:
                special[k] = by_value[v]
        if sql.startswith("UPDATE"):
            lines.append(bind(sql, params, special) + ";")
        else:
            # Reads keep their logged times (the yearly cap's range, say).
            for k, v in params.items():
                special.setdefault(k, v)
            lines.append(bind(sql, params, special) + ";")
open(f"{out}/pgbench-conversion-full.sql", "w").write("\n".join(lines) + "\n")
