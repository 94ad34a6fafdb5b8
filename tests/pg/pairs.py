"""Clients asking one query again and again while the server's export is replaced.

The last line printed is a JSON summary: how often each answer came (the row's fields
joined by |), and how many queries failed.
"""
import argparse
import collections
import json
import threading
import time

import psycopg

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--clients", type=int, default=8)
parser.add_argument("--seconds", type=float, default=10)
parser.add_argument("--user", required=True)
parser.add_argument("--password", required=True)
parser.add_argument("--query", required=True)
args = parser.parse_args()

lock = threading.Lock()
answers = collections.Counter()
failures = []


def client():
    deadline = time.monotonic() + args.seconds
    with psycopg.connect(host="127.0.0.1", port=args.port, dbname="cwkpi", user=args.user,
                         password=args.password, sslmode="disable", connect_timeout=30) as conn:
        while time.monotonic() < deadline:
            try:
                row = conn.execute(args.query).fetchone()
            except Exception as e:  # noqa: BLE001 - every failure counts
                with lock:
                    failures.append(str(e))
                continue
            with lock:
                answers["|".join(str(v) for v in row)] += 1
            time.sleep(0.02)


threads = [threading.Thread(target=client) for _ in range(args.clients)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"answers": answers, "errors": len(failures), "first_errors": failures[:3]}))
