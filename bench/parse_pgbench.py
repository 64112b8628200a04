"""Reads pgbench output: prints 'tps|p50 ms|p99 ms|errors' (percentiles from the average
and -r's per-statement numbers are not enough, so they come from the --log files if given
as argv[1], else p50 = average latency and p99 is left empty)."""
import glob
import re
import sys

text = sys.stdin.read()
tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", text).group(1))
avg = float(re.search(r"latency average = ([\d.]+) ms", text).group(1))
failed = re.search(r"number of failed transactions: (\d+)", text)
errors = int(failed.group(1)) if failed else 0
times = []
for path in glob.glob("target/bench/pgbench_log.*"):
    for line in open(path):
        parts = line.split()
        if len(parts) >= 3:
            times.append(int(parts[2]) / 1000.0)
if times:
    times.sort()
    p50 = times[len(times) // 2]
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(f"{tps:.0f}|{p50:.2f}|{p99:.2f}|{errors}")
else:
    print(f"{tps:.0f}|{avg:.2f}||{errors}")
