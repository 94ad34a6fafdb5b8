# R's RPostgreSQL (DBI) against the endpoint, as an analyst in R would browse and read:
# dbListTables, dbListFields, dbReadTable of kpi, and dbGetQuery with $1..$3 bound (text,
# date, integer). Prints one JSON line: {"tables": [...], "kpi_columns": [...], "all":
# [...], "bound": [...]}, rows as "unit|kpi|numerator|denominator".
# Usage: Rscript rpostgresql.R PORT USER PASSWORD UNIT AS_OF
suppressPackageStartupMessages(library(RPostgreSQL))
a <- commandArgs(trailingOnly = TRUE)
con <- dbConnect(PostgreSQL(), host = "127.0.0.1", port = as.integer(a[1]), user = a[2],
                 password = a[3], dbname = "cwkpi")
lines <- function(d) sort(sprintf("%s|%s|%d|%d", d$unit_id, d$kpi_id, as.integer(d$numerator),
                                  as.integer(d$denominator)))
json <- function(x) paste0("[", paste0('"', x, '"', collapse = ","), "]")
tables <- dbListTables(con)
columns <- dbListFields(con, "kpi")
all <- dbReadTable(con, "kpi")
bound <- dbGetQuery(con, paste("SELECT unit_id, kpi_id, numerator, denominator FROM kpi",
                               "WHERE unit_id = $1 AND as_of = $2 AND denominator >= $3"),
                    list(a[4], a[5], 0L))
invisible(dbDisconnect(con))
cat(sprintf('{"tables": %s, "kpi_columns": %s, "all": %s, "bound": %s}\n', json(tables),
            json(columns), json(lines(all)), json(lines(bound))))
