"""A logged-in user (or an anonymous socket) trying to harm `cwkpi serve`, one attack per
call, each bounded in time. The last line printed is a JSON summary of what happened.

  writes      every write path through psycopg's extended protocol (bound parameters,
              prepared statements, cursors); the summary lists each statement's outcome
  cancel      a long query cancelled after --after seconds (simple and extended protocol);
              the summary gives the seconds from cancel to the error, and the error
  stream      the first row of a large result with bound parameters: seconds to it
  idle        --sockets TCP connections from --source that never send a byte, held for
              --hold seconds, then how many the server had closed
  hold        --count logged-in connections held for --hold seconds; how many were refused
  sleepy      one logged-in connection silent for --hold seconds, then a query: its outcome
"""
import argparse
import json
import socket
import threading
import time

import psycopg

parser = argparse.ArgumentParser()
parser.add_argument("attack")
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--user", default="")
parser.add_argument("--password", default="")
parser.add_argument("--after", type=float, default=1.0)
parser.add_argument("--sockets", type=int, default=105)
parser.add_argument("--source", default="127.0.0.2")
parser.add_argument("--hold", type=float, default=2.0)
parser.add_argument("--count", type=int, default=3)
args = parser.parse_args()


def connect(**extra):
    return psycopg.connect(host="127.0.0.1", port=args.port, dbname="cwkpi", user=args.user,
                           password=args.password, sslmode="disable", connect_timeout=20, **extra)


def outcome(conn, sql, params=None, prepare=None, fetch=True):
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params, prepare=prepare)
            if fetch and cur.description is not None:
                cur.fetchall()
        return "ok"
    except Exception as e:  # noqa: BLE001 - the refusal is what is reported
        return f"{getattr(e, 'sqlstate', None)}: {e}".strip()


def writes():
    results = {}
    with connect(autocommit=True) as conn:
        for sql, params, prepare in [
            ("INSERT INTO units (unit_id, name) VALUES (%s, %s)", ("X1", "x"), None),
            ("DELETE FROM cases WHERE case_id <> %s", ("none",), None),
            ("UPDATE units SET name = %s", ("x",), None),
            ("INSERT INTO units (unit_id, name) VALUES (%s, %s)", ("X2", "x"), True),
            ("DECLARE c1 CURSOR FOR INSERT INTO units (unit_id, name) VALUES ('X3', 'x')", None, None),
            ("DECLARE c2 CURSOR FOR DELETE FROM cases", None, None),
            ("DECLARE c3 CURSOR FOR SELECT * INTO t_cursor FROM units", None, None),
            ("WITH x AS (SELECT 1) DELETE FROM cases", None, None),
            ("EXPLAIN ANALYZE INSERT INTO units (unit_id, name) VALUES ('X4', 'x')", None, None),
            ("SELECT * INTO t_extended FROM units WHERE unit_id = %s", ("U0001",), None),
            ("CREATE TABLE t_create AS SELECT * FROM units", None, None),
            ("TRUNCATE cases", None, None),
            ("COPY (SELECT * FROM cases) TO '/tmp/cwkpi-hostile.csv'", None, None),
        ]:
            results[sql] = outcome(conn, sql, params, prepare)
    return {"results": results}


def cancel():
    found = {}
    for protocol, params in [("simple", None), ("extended", (0,))]:
        with connect(autocommit=True) as conn:
            sql = "SELECT count(*) FROM generate_series(1, 50000000000)" if params is None \
                else "SELECT count(*) FROM generate_series(1, 50000000000) WHERE value > %s"
            done = {}

            def run():
                try:
                    if params is None:
                        # psycopg sends a query without parameters by the simple protocol
                        # only through its ClientCursor.
                        psycopg.ClientCursor(conn).execute(sql)
                    else:
                        conn.execute(sql, params)
                    done["error"] = None
                except Exception as e:  # noqa: BLE001
                    done["error"] = f"{getattr(e, 'sqlstate', None)}: {e}"
                done["at"] = time.monotonic()

            thread = threading.Thread(target=run)
            thread.start()
            time.sleep(args.after)
            cancelled_at = time.monotonic()
            conn.cancel_safe(timeout=5)
            thread.join(30)
            found[protocol] = {
                "seconds": round(done.get("at", time.monotonic() + 99) - cancelled_at, 3),
                "error": done.get("error", "still running"),
                "then": outcome(conn, "SELECT 1"),
            }
    return found


def stream():
    with connect(autocommit=True) as conn:
        began = time.monotonic()
        with conn.cursor() as cur:
            # stream(): the extended protocol with every row asked for at once (Execute
            # with no row limit), read row by row as it arrives.
            for _ in cur.stream("SELECT value FROM generate_series(1, 3000000) WHERE value > %s", (0,)):
                first = time.monotonic() - began
                break
        return {"first_row_seconds": round(first, 3)}


def idle():
    held = []
    for _ in range(args.sockets):
        s = socket.socket()
        s.bind((args.source, 0))
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", args.port))
            held.append(s)
        except OSError:
            pass
    print(json.dumps({"opened": len(held)}), flush=True)
    time.sleep(args.hold)
    closed = 0
    for s in held:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        s.close()
    return {"opened": len(held), "closed_by_server": closed}


def hold():
    conns, refused = [], []
    for _ in range(args.count):
        try:
            conns.append(connect())
        except Exception as e:  # noqa: BLE001
            refused.append(str(e).strip())
    print(json.dumps({"held": len(conns)}), flush=True)
    time.sleep(args.hold)
    for c in conns:
        c.close()
    return {"held": len(conns), "refused": refused}


def sleepy():
    with connect(autocommit=True) as conn:
        before = outcome(conn, "SELECT 1")
        time.sleep(args.hold)
        return {"before": before, "after": outcome(conn, "SELECT 1")}


print(json.dumps(globals()[args.attack]()), flush=True)
