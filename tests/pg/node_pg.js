// node-postgres (`pg`) against the endpoint: kpi whole and with $1..$3 parameters (text,
// date, integer). Prints one JSON line: {"all": [...], "bound": [...]}, rows as
// "unit|kpi|numerator|denominator". Usage: node node_pg.js PORT USER PASSWORD UNIT AS_OF
const { Client } = require("pg");
const [port, user, password, unit, asOf] = process.argv.slice(2);
const lines = (rows) => rows.map((r) => `${r.unit_id}|${r.kpi_id}|${r.numerator}|${r.denominator}`).sort();
(async () => {
  const client = new Client({ host: "127.0.0.1", port: Number(port), database: "cwkpi", user, password, connectionTimeoutMillis: 20000 });
  await client.connect();
  const query = "SELECT unit_id, kpi_id, numerator, denominator FROM kpi";
  const all = await client.query(query);
  const bound = await client.query(query + " WHERE unit_id = $1 AND as_of = $2 AND denominator >= $3", [unit, asOf, 0]);
  await client.end();
  console.log(JSON.stringify({ all: lines(all.rows), bound: lines(bound.rows) }));
})().catch((e) => {
  console.log(JSON.stringify({ error: String(e) }));
  process.exit(1);
});
