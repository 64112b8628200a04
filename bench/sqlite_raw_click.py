"""The SQLite baseline of a click: CONNS threads, each with its own connection (WAL, the
service's pragmas), inserting a click interaction by code in its own transaction for
DURATION seconds. Prints 'tps|p50 ms|p99 ms|errors'. Usage: FILE CODES CONNS DURATION"""
import random
import sqlite3
import sys
import threading
import time
import os

path, codes_file, conns, duration = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
codes = [line.strip() for line in open(codes_file) if line.strip()]
SQL = ("INSERT INTO referral_interactions (id, referral_id, interaction_type, ip_address, user_agent, source, created_at) "
       "SELECT ?, id, 'click', ?, ?, ?, ? FROM referrals WHERE referral_code = ?")
latencies, errors, lock = [], [0], threading.Lock()


def uuid7():
    """A time-ordered id as the service makes for interactions (UUIDv7: 48 bits of
    milliseconds, then random bits), so that both sides append to the primary key's index."""
    raw = bytearray(int(time.time() * 1000).to_bytes(6, "big") + os.urandom(10))
    raw[6] = (raw[6] & 0x0F) | 0x70
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
stop_at = time.monotonic() + duration


def worker():
    db = sqlite3.connect(path, timeout=5, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    mine = []
    while time.monotonic() < stop_at:
        started = time.perf_counter()
        try:
            db.execute(SQL, (uuid7(), "127.0.0.1", "wrk", None,
                             time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()), random.choice(codes)))
        except sqlite3.Error:
            with lock:
                errors[0] += 1
        mine.append((time.perf_counter() - started) * 1000)
    with lock:
        latencies.extend(mine)


threads = [threading.Thread(target=worker) for _ in range(conns)]
for t in threads:
    t.start()
for t in threads:
    t.join()
latencies.sort()
print(f"{len(latencies) / duration:.0f}|{latencies[len(latencies) // 2]:.2f}|{latencies[int(len(latencies) * 0.99)]:.2f}|{errors[0]}")
