// PostgreSQL's JDBC driver (DBeaver's, and most BI tools') against the endpoint: it lists
// the views and the columns of kpi through DatabaseMetaData, reads kpi whole and through a
// prepared statement with text, date and integer parameters, and prints one JSON line:
// {"views": [...], "kpi_columns": [...], "all": ["unit|kpi|num|den", ...], "bound": [...]}.
// Run as a single-file program: java -cp postgresql.jar Jdbc.java PORT USER PASSWORD UNIT AS_OF
import java.sql.*;
import java.util.*;

public class Jdbc {
    static String json(List<String> items) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < items.size(); i++) {
            if (i > 0) b.append(',');
            b.append('"').append(items.get(i).replace("\\", "\\\\").replace("\"", "\\\"")).append('"');
        }
        return b.append(']').toString();
    }

    static List<String> rows(ResultSet rs) throws SQLException {
        List<String> out = new ArrayList<>();
        while (rs.next()) out.add(rs.getString(1) + "|" + rs.getString(2) + "|" + rs.getLong(3) + "|" + rs.getLong(4));
        Collections.sort(out);
        return out;
    }

    public static void main(String[] a) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + a[0] + "/cwkpi?sslmode=disable&connectTimeout=20";
        try (Connection c = DriverManager.getConnection(url, a[1], a[2])) {
            DatabaseMetaData meta = c.getMetaData();
            List<String> views = new ArrayList<>();
            try (ResultSet rs = meta.getTables(null, "public", "%", new String[] {"VIEW"})) {
                while (rs.next()) views.add(rs.getString("TABLE_NAME"));
            }
            Collections.sort(views);
            List<String> columns = new ArrayList<>();
            try (ResultSet rs = meta.getColumns(null, "public", "kpi", "%")) {
                while (rs.next()) columns.add(rs.getString("COLUMN_NAME"));
            }
            String query = "SELECT unit_id, kpi_id, numerator, denominator FROM kpi";
            List<String> all;
            try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(query)) {
                all = rows(rs);
            }
            List<String> bound;
            try (PreparedStatement p = c.prepareStatement(query + " WHERE unit_id = ? AND as_of = ? AND denominator >= ?")) {
                p.setString(1, a[3]);
                p.setDate(2, java.sql.Date.valueOf(a[4]));
                p.setInt(3, 0);
                try (ResultSet rs = p.executeQuery()) {
                    bound = rows(rs);
                }
            }
            System.out.println("{\"views\":" + json(views) + ",\"kpi_columns\":" + json(columns) + ",\"all\":" + json(all) + ",\"bound\":" + json(bound) + "}");
        }
    }
}
