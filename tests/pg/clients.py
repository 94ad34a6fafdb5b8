"""Many clients asking the KPI endpoint point queries at once, for a bounded time.

Each client connects with psycopg (SCRAM, extended protocol, bound parameters) and asks
for one unit's KPI again and again, checking every answer against the expected figures.
The last line printed is a JSON summary: clients, queries, errors, wrong answers, and the
connection and query times (ms, p50 and p99).
"""
import argparse
import json
import random
import threading
import time

import psycopg

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--clients", type=int, default=50)
parser.add_argument("--seconds", type=float, default=10)
parser.add_argument("--expected", required=True, help="JSON: {'unit|kpi': [numerator, denominator]}")
parser.add_argument("--user", required=True)
parser.add_argument("--password", required=True)
args = parser.parse_args()

expected = json.load(open(args.expected))
keys = sorted(expected)
lock = threading.Lock()
totals = {"clients": 0, "queries": 0, "errors": 0, "wrong": 0}
connect_ms, query_ms, messages = [], [], []
start = threading.Barrier(args.clients)


def client(number):
    rng = random.Random(number)
    done = {"queries": 0, "errors": 0, "wrong": 0}
    my_connect, my_query = [], []
    start.wait()
    deadline = time.monotonic() + args.seconds
    began = time.perf_counter()
    try:
        conn = psycopg.connect(host=args.host, port=args.port, dbname="cwkpi", user=args.user,
                               password=args.password, sslmode="disable", connect_timeout=30)
    except Exception as e:  # noqa: BLE001 - every failure counts
        with lock:
            totals["errors"] += 1
            messages.append(str(e))
        return
    my_connect.append((time.perf_counter() - began) * 1000)
    with conn:
        while time.monotonic() < deadline:
            unit, kpi = rng.choice(keys).split("|")
            began = time.perf_counter()
            try:
                row = conn.execute("SELECT numerator, denominator FROM kpi WHERE unit_id = %s AND kpi_id = %s",
                                   (unit, kpi)).fetchone()
            except Exception as e:  # noqa: BLE001
                done["errors"] += 1
                messages.append(str(e))
                continue
            my_query.append((time.perf_counter() - began) * 1000)
            done["queries"] += 1
            if [int(row[0]), int(row[1])] != expected[f"{unit}|{kpi}"]:
                done["wrong"] += 1
    with lock:
        totals["clients"] += 1
        for k, v in done.items():
            totals[k] += v
        connect_ms.extend(my_connect)
        query_ms.extend(my_query)


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(p / 100 * len(values)))], 2)


threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
for t in threads:
    t.start()
for t in threads:
    t.join()
totals.update({
    "connect_ms_p50": percentile(connect_ms, 50), "connect_ms_p99": percentile(connect_ms, 99),
    "query_ms_p50": percentile(query_ms, 50), "query_ms_p99": percentile(query_ms, 99),
    "first_errors": messages[:3],
})
print(json.dumps(totals))
