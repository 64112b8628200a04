"""Turns the statements PostgreSQL logged for one click and one conversion into pgbench
scripts: the statement texts exactly as sent, with the logged parameters as literals, except
those that must differ per run (new ids, the code or referral acted on, the time, the unique
party of a ledger row), which become pgbench expressions. A conversion sends two function
calls; the statements those functions run come from auto_explain's log of nested
statements (their "Query Text"), with the function's variables bound to the values the
logged call passed. Usage: pgbench_scripts.py LOG CLICK_FROM EVENT_FROM END OUT_DIR"""
import json
import re
import sys

log, click_from, event_from, end, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
raw = open(log, "rb").read()

# Every message starts a line like "2026-11-24 17:56:45.520 UTC [31835] user@db LOG:  ...";
# CONTEXT and other kinds are kept apart so their continuation lines do not join a LOG entry.
ENTRY = re.compile(r"^\S+ \S+ \S+ \[(\d+)\] \S*\s*([A-Z]+):\s+(.*)$")


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
        if kind == "LOG" and body.startswith("duration:") and "plan:" in body:
            continue  # auto_explain's plans: see nested()
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


def nested(start, stop):
    """Query texts of the statements that auto_explain logged (with log_format = json), in
    order: for a function call, the statements it ran, then the call itself."""
    text = raw[start:stop].decode("utf-8", "replace")
    texts, current = [], None
    for line in text.split("\n"):
        m = ENTRY.match(line)
        if m:
            if current is not None:
                texts.append(json.loads(current)["Query Text"])
            current = None
            if m.group(2) == "LOG" and m.group(3).startswith("duration:") and m.group(3).rstrip().endswith("plan:"):
                current = ""
        elif current is not None and line.startswith("\t"):
            current += line[1:] + "\n"
    if current is not None:
        texts.append(json.loads(current)["Query Text"])
    return texts


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


# The click: one statement, the insert of its interaction row by code.
click = statements(click_from, event_from)
# (Identifiers are quoted when Diesel builds the statement, bare in pg_clicks' own text.)
insert = next(s for s in click if re.match(r'INSERT INTO "?referral_interactions"?', s[1]))
code_param = int(re.search(r'"?referral_code"? = \$(\d+)', insert[1]).group(1))
special = {code_param: "(SELECT code FROM bench_codes WHERE n = :n)"}
# A new row id as the service makes it: random (v4), or time-ordered (v7, whose keys land at
# the end of the primary key's index) when the logged one is.
V7 = ("(lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') || '7' "
      "|| substr(md5(random()::text), 1, 19))::uuid")


def new_id(logged):
    return V7 if logged.strip("'")[14] == "7" else "gen_random_uuid()"


for k, v in insert[2].items():
    if UUID.match(v) and k != code_param:
        special[k] = new_id(v)
lines = ["-- The statement of one click, from PostgreSQL's statement log.", "\\set n random(1, :codes)",
         bind(insert[1], insert[2], special) + ";"]
open(f"{out}/pgbench-click.sql", "w").write("\n".join(lines) + "\n")

# The conversion: two calls, referral_event_begin (record the event, gather the facts) and
# referral_conversion_apply (write the decision), in one transaction.
event = statements(event_from, end)
begin_call = next(s for s in event if "referral_event_begin(" in s[1])
apply_call = next(s for s in event if "referral_conversion_apply(" in s[1])
writes = json.loads(apply_call[2][1][1:-1].replace("''", "'"))
if writes.get("reward") is None:
    sys.exit("the captured conversion wrote no ledger row; pick a referral whose program rewards at once")
inner = nested(event_from, end)
update = next(q for q in inner if q.lstrip().startswith("UPDATE referrals SET") and "'converted'" in q)
ledger = next(q for q in inner if q.lstrip().startswith("INSERT INTO referral_rewards"))
# Each transaction converts a referral of its own, drawn in order from bench_registered: the
# status update takes the next one (a random draw would repeat referrals, and an update of an
# already converted one changes nothing), the ledger row goes to that referral and its
# referrer. Scalar subqueries, so that the sequence is read once and the index is used.
NEXT = "(SELECT nextval('bench_registered_seq'))"
SAME = "(SELECT currval('bench_registered_seq'))"
REFERRAL = f"(SELECT id FROM bench_registered WHERE n = {NEXT})"
LEDGER_REFERRAL = f"(SELECT id FROM bench_registered WHERE n = {SAME})"
LEDGER_REFERRER = f"(SELECT referrer FROM bench_registered WHERE n = {SAME})"
TIMES = {"converted_at", "now", "reward_created_at"}


def literal(value):
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    text = "'" + str(value).replace("'", "''") + "'"
    # pgbench reads ":name" as a variable even inside a string literal ("reward-earned:c1d7…"):
    # split the literal there so that no colon is followed by a letter.
    if re.search(r":[A-Za-z_]", text):
        text = "(" + re.sub(r":(?=[A-Za-z_])", ":' || '", text) + ")"
    return text


def bind_function(sql, referral):
    """The function's statement with its variables (v_x, w->>'x', r->>'x') as values;
    `referral` is the expression that names the referral."""
    reward = writes["reward"]

    def reward_field(m):
        key = m.group(1)
        if key == "patient_id":
            return LEDGER_REFERRER
        return literal(reward.get(key))

    sql = re.sub(r"r->>'(\w+)'", reward_field, sql)
    sql = re.sub(r"w->>'(\w+)'", lambda m: literal(writes.get(m.group(1))), sql)

    def variable(m):
        name = m.group(1)
        if name == "referral_id":
            return referral
        if name == "reward_id":
            return "gen_random_uuid()" if referral == LEDGER_REFERRAL else literal(reward["id"])
        if name in TIMES:
            return "now()"
        if name in writes:
            return literal(writes[name])
        return literal(reward.get(name.removeprefix("reward_")))

    return re.sub(r"\bv_(\w+)\b", variable, sql)


lines = ["-- A conversion's status update and ledger row: the statements referral_conversion_apply",
         "-- runs for them, from auto_explain's log.",
         "BEGIN;",
         bind_function(update.strip(), REFERRAL) + ";",
         bind_function(ledger.strip(), LEDGER_REFERRAL) + ";",
         "COMMIT;"]
open(f"{out}/pgbench-conversion.sql", "w").write("\n".join(lines) + "\n")
print(f"pgbench scripts written to {out} (click: {len(click)} statements logged, conversion: {len(event)}, "
      f"{len(inner)} nested)")

# Not a target: every statement our conversion sent on its connection (the transaction and
# the two calls), replayed on a fresh registered referral each time: new ids become
# gen_random_uuid(); the referral, its referee, referrer, program, day and variant come from
# bench_conv, one row per transaction.
# The conversion's transaction only: the same connection may also have marked first clicks.
on_connection = [s for s in event if s[0] == apply_call[0]]
first = max(i for i, s in enumerate(on_connection[:on_connection.index(begin_call)]) if s[1] == "BEGIN")
last = next(i for i in range(on_connection.index(apply_call), len(on_connection)) if on_connection[i][1] == "COMMIT")
own = on_connection[first:last + 1]
row = lambda col: f"(SELECT {col} FROM bench_conv WHERE n = :n)"
fresh = {
    "referral_id": "id", "program_id": "program", "referrer_id": "referrer", "day": "day",
    "variant": "variant",
}
per_run = ", ".join(f"'{k}', c.{v}" for k, v in fresh.items())
reward_fresh = "jsonb_build_object('id', gen_random_uuid(), 'patient_id', c.referrer)"
# A referrer's reward queues no notice (only the friend's does): the notice, like the
# audit row, is refreshed only when the captured conversion wrote one.
def refreshed(key, fresh):
    if not writes.get(key):
        return ""
    return f", '{key}', {literal(json.dumps(writes[key]))}::jsonb || {fresh}"


writes_sql = (
    f"(SELECT ({literal(json.dumps(writes))}::jsonb || jsonb_build_object({per_run}, "
    f"'interaction_id', {new_id(writes['interaction_id'])}"
    + refreshed("reward", reward_fresh)
    + (refreshed("notice", f"jsonb_build_object('id', {new_id(writes['notice']['id'])}, "
                           "'idempotency_key', 'bench-' || gen_random_uuid())")
       if writes.get("notice") else "")
    + (refreshed("audit", f"jsonb_build_object('id', {new_id(writes['audit']['id'])})")
       if writes.get("audit") else "")
    + f"))::text FROM bench_conv c WHERE c.n = :n)"
)
lines = ["-- Every statement of one conversion, from PostgreSQL's statement log.",
         "SELECT nextval('bench_conv_seq') AS n \\gset"]
for _pid, sql, params in own:
    if "referral_event_begin(" in sql:
        # event id, patient, the event's times; the yearly cap's range stays as logged.
        special = {2: "gen_random_uuid()", 3: row("referee"), 5: "now()", 6: "now()"}
        for k, v in params.items():
            special.setdefault(k, v)
        lines.append(bind(sql, params, special) + ";")
    elif "referral_conversion_apply(" in sql:
        lines.append(bind(sql, params, {1: writes_sql}) + ";")
    else:
        # Rows the service writes itself (the audit row, with its MAC, since the audit
        # trail's MACs): new ids made afresh, times now.
        fresh_ids = {}
        if sql.lstrip().upper().startswith("INSERT"):
            fresh_ids = {k: new_id(v) for k, v in params.items() if UUID.match(v)}
        lines.append(bind(sql, params, fresh_ids) + ";")
open(f"{out}/pgbench-conversion-full.sql", "w").write("\n".join(lines) + "\n")
