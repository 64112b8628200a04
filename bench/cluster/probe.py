"""Is there a writable primary behind HAProxy's primary port? Every 200 ms, one short
connection (1 s timeout) inserts a row; each attempt is logged as `time ok|error`, and the
report turns the log into seconds without a writable primary.

Usage: python3 probe.py DSN LOG   (Debian's python3 with python3-psycopg2)
"""

import sys
import time

import psycopg2

DSN, LOG = sys.argv[1], open(sys.argv[2], "a", buffering=1)

while True:
    started = time.time()
    try:
        conn = psycopg2.connect(DSN, connect_timeout=1, options="-c statement_timeout=1000")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("INSERT INTO cluster_probe (at) VALUES (now())")
        conn.close()
        LOG.write(f"{started:.3f} ok\n")
    except Exception as e:  # every failure is the answer being measured
        LOG.write(f"{started:.3f} error {type(e).__name__}\n")
    time.sleep(max(0.0, 0.2 - (time.time() - started)))
