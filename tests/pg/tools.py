"""The analyst's own tools against the endpoint: SQLAlchemy 2 with pandas (psycopg
underneath), and psqlODBC through pyodbc (the driver behind Excel's and Power BI's "From
ODBC"). Each connects with SCRAM, browses the catalog the way the tool does, and reads
`kpi` with and without bound parameters (text, date, integer).

The last line printed is a JSON summary the test compares with `cwkpi kpi`: per tool, the
views and columns it found and the rows it read, as "unit|kpi|numerator|denominator".
"""
import argparse
import datetime
import json
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--user", required=True)
parser.add_argument("--password", required=True)
parser.add_argument("--unit", required=True, help="a unit to read with bound parameters")
parser.add_argument("--as-of", required=True)
args = parser.parse_args()

QUERY = "SELECT unit_id, kpi_id, numerator, denominator FROM kpi"


def lines(rows):
    return sorted(f"{r[0]}|{r[1]}|{r[2]}|{r[3]}" for r in rows)


def sqlalchemy_and_pandas():
    import pandas as pd
    from sqlalchemy import create_engine, inspect, text

    url = f"postgresql+psycopg://{args.user}:{args.password}@127.0.0.1:{args.port}/cwkpi"
    engine = create_engine(url)
    found = {}
    with engine.connect() as conn:
        found["server_version"] = list(engine.dialect.server_version_info)
        found["version"] = conn.execute(text("SELECT version()")).scalar()
        found["current_user"] = conn.execute(text("SELECT current_user")).scalar()
    inspector = inspect(engine)
    found["views"] = sorted(inspector.get_view_names())
    found["tables"] = sorted(inspector.get_table_names())
    found["kpi_columns"] = [c["name"] for c in inspector.get_columns("kpi")]
    with engine.connect() as conn:
        found["all"] = lines(pd.read_sql(text(QUERY), conn).itertuples(index=False))
        frame = pd.read_sql(
            text(QUERY + " WHERE unit_id = :unit AND as_of = :as_of AND denominator >= :least"),
            conn,
            params={"unit": args.unit, "as_of": datetime.date.fromisoformat(args.as_of), "least": 0},
        )
        found["bound"] = lines(frame.itertuples(index=False))
    engine.dispose()
    return found


def psqlodbc():
    import pyodbc

    found = {}
    conn = pyodbc.connect(
        f"DRIVER={{PostgreSQL Unicode}};SERVER=127.0.0.1;PORT={args.port};DATABASE=cwkpi;"
        f"UID={args.user};PWD={args.password};SSLmode=disable",
        timeout=20,
    )
    cur = conn.cursor()
    found["views"] = sorted({t.table_name for t in cur.tables(tableType="VIEW")})
    found["kpi_columns"] = [c.column_name for c in cur.columns(table="kpi")]
    found["all"] = lines(cur.execute(QUERY).fetchall())
    found["bound"] = lines(
        cur.execute(
            QUERY + " WHERE unit_id = ? AND as_of = ? AND denominator >= ?",
            args.unit,
            datetime.date.fromisoformat(args.as_of),
            0,
        ).fetchall()
    )
    # After a failed statement in the driver's transaction, the application rolls back
    # and the connection goes on.
    try:
        cur.execute("SELECT no_such_column FROM kpi WHERE unit_id = ?", args.unit)
    except pyodbc.Error:
        conn.rollback()
        found["error_recovered"] = cur.execute("SELECT count(*) FROM kpi WHERE unit_id = ?", args.unit).fetchone()[0]
    conn.close()
    return found


summary = {}
for name, tool in [("sqlalchemy", sqlalchemy_and_pandas), ("psqlodbc", psqlodbc)]:
    try:
        summary[name] = tool()
    except Exception as e:  # reported, and the test fails on it
        summary[name] = {"error": f"{type(e).__name__}: {e}"}
print(json.dumps(summary), flush=True)
sys.exit(0)
