-- Which further tables the export holds, for the report's sections on plan items 12 and 13 and notifications.
SELECT table_name, present, rows_kept
FROM export_tables
WHERE NOT core
ORDER BY table_name
