#!/usr/bin/env bash
# Installs the clients the tests of `cwkpi serve` use, when missing: psql (Debian package
# postgresql-client) and Python's psycopg (PyPI); with `tools`, also what analysts connect
# with: SQLAlchemy and pandas (PyPI), psqlODBC with pyodbc (Debian odbc-postgresql and
# unixodbc, PyPI pyodbc), the JDBC driver and a JDK, node-postgres (npm pg), and R with
# RPostgreSQL (Debian r-cran-rpostgresql, without recommends: about 30 MB).
set -euo pipefail
sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
pip_install() {
    python3 -m pip install --quiet --disable-pip-version-check "$@" 2>&1 | grep -v "Running pip as the 'root' user" || true
}
if ! command -v psql >/dev/null; then
    apt_install postgresql-client
fi
if ! python3 -c 'import psycopg' 2>/dev/null; then
    pip_install 'psycopg[binary]>=3.1,<4'
    python3 -c 'import psycopg'
fi
if [ "${1:-}" = tools ]; then
    if ! odbcinst -q -d -n 'PostgreSQL Unicode' >/dev/null 2>&1; then
        apt_install unixodbc odbc-postgresql
    fi
    if ! python3 -c 'import sqlalchemy, pandas, pyodbc' 2>/dev/null; then
        pip_install 'sqlalchemy>=2,<3' 'pandas>=2,<3' 'pyodbc>=5,<6'
    fi
    python3 -c 'import sqlalchemy, pandas, pyodbc'
    odbcinst -q -d -n 'PostgreSQL Unicode' >/dev/null
    if ! command -v java >/dev/null; then
        apt_install default-jdk-headless
    fi
    if [ ! -f /usr/share/java/postgresql.jar ]; then
        apt_install libpostgresql-jdbc-java
    fi
    if ! command -v node >/dev/null; then
        apt_install nodejs npm
    fi
    if [ ! -d "$HOME/.cache/cwkpi-node/node_modules/pg" ]; then
        npm install --silent --prefix "$HOME/.cache/cwkpi-node" 'pg@8' >/dev/null
    fi
    if ! Rscript -e 'library(RPostgreSQL)' >/dev/null 2>&1; then
        apt_install --no-install-recommends r-cran-rpostgresql
    fi
    Rscript -e 'library(RPostgreSQL)' >/dev/null 2>&1
fi
