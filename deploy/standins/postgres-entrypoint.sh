#!/usr/bin/env bash
# The stand-in postgres image's entrypoint: what the official image's docker-entrypoint.sh does
# on first start, for the variables habitctl's compose file sets. An empty data directory is
# initialised with POSTGRES_USER (a superuser, password POSTGRES_PASSWORD) and POSTGRES_DB;
# logins over TCP need scram-sha-256 except from the container's own loopback (as in the
# official image). The first-start server listens on the Unix socket only; the real one on TCP.
set -Eeuo pipefail

if [ "${1:0:1}" = '-' ]; then
    set -- postgres "$@"
fi

if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown -R postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "error: the database is uninitialized and POSTGRES_PASSWORD is not set" >&2
        exit 1
    fi
    user="${POSTGRES_USER:-postgres}"
    db="${POSTGRES_DB:-$user}"
    initdb --username="$user" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
        --encoding=UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=trust >/dev/null
    printf '\nhost all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
    # The same server options as the real start (shared_preload_libraries among them).
    shift
    pg_ctl -D "$PGDATA" -w -o "$(printf '%q ' "$@") -c listen_addresses='' -p 5432" start >/dev/null
    if [ "$db" != postgres ]; then
        psql -v ON_ERROR_STOP=1 --no-psqlrc --username="$user" --dbname=postgres \
            --set=db="$db" <<<'CREATE DATABASE :"db";' >/dev/null
    fi
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "PostgreSQL init process complete; ready for start up."
    set -- postgres "$@"
fi

exec "$@"
