# shellcheck shell=sh
# PostgreSQL pre-flight checks (read-only): the database reachable with the env's credentials,
# pg_dump new enough for its server, room for a dump, no old idle-in-transaction session holding
# locks on the database's tables. A connection is pg.sh's six words (HOST PORT DATABASE USER SERVICE PASSWORD).
# A check that could not connect exits 69 (EX_UNAVAILABLE): bg reads it as "unreachable" (exit 5).

# bg_pg_fail_connect HOSTNAME ENV WHAT OUTPUT: say that ENV's database could not be reached, with libpq's reason (last lines of OUTPUT); returns 69.
bg_pg_fail_connect() {
  bg_pf_why=$(printf '%s\n' "$4" | grep -v '^[[:space:]]*$' | tail -n 3 | sed 's/^psql: //; s/^error: //' | tr '\n' ' ' | sed 's/ *$//')
  printf 'bg: cannot connect to the PostgreSQL database of env %s on host %s (%s): %s\n' "$2" "$1" "$3" "${bg_pf_why:-psql failed without a message}" >&2
  return 69
}

# bg_pg_reach HOSTNAME ENV WHAT CONN(6): connect with the env's credentials; prints the server's version, else libpq's reason and 69.
bg_pg_reach() {
  bg_pr_h=$1; bg_pr_e=$2; bg_pr_w=$3; shift 3
  command -v psql >/dev/null || { echo "bg: no psql on the host's PATH (Debian: apt-get install postgresql-client)" >&2; return 1; }
  bg_pr_out=$(printf 'SELECT current_user, version()\n' | bg_pg_sql "$@" -F ' ' 2>&1) || { bg_pg_fail_connect "$bg_pr_h" "$bg_pr_e" "$bg_pr_w" "$bg_pr_out"; return 69; }
  printf 'connected as %s\n' "$bg_pr_out"
}

# bg_pg_major_of VERSION: a major version as one number, 1500 for 15.x and 906 for 9.6.x (before 10 the major had two parts).
bg_pg_major_of() {
  # The leading digits ("17beta1", "15.10 (Debian 15.10-1)"), then the minor's for a two-part major.
  bg_pm_a=${1%%[!0-9]*}; bg_pm_r=${1#*.}; bg_pm_b=${bg_pm_r%%[!0-9]*}
  [ -n "$bg_pm_a" ] || return 1
  if [ "$bg_pm_a" -ge 10 ]; then echo $((bg_pm_a * 100)); else echo $((bg_pm_a * 100 + ${bg_pm_b:-0})); fi
}

# bg_pg_dump_version HOSTNAME ENV WHAT CONN(6): pg_dump's major version is at least the server's (an older pg_dump refuses a newer server).
bg_pg_dump_version() {
  bg_pv_h=$1; bg_pv_e=$2; bg_pv_w=$3; shift 3
  bg_pv_path=$(command -v pg_dump) || { echo "bg: no pg_dump on the host's PATH (Debian: apt-get install postgresql-client)" >&2; return 1; }
  # "pg_dump (PostgreSQL) 15.10 (Debian 15.10-0+deb12u1)": the first number after the name.
  bg_pv_c=$(pg_dump --version 2>/dev/null | head -n 1 | sed -n 's/^[^0-9]*\([0-9][0-9.]*\).*/\1/p')
  bg_pv_cn=$(bg_pg_major_of "$bg_pv_c") || { echo "bg: cannot read the version of $bg_pv_path from its --version output" >&2; return 1; }
  bg_pv_s=$(printf 'SHOW server_version\n' | bg_pg_sql "$@" 2>&1) || { bg_pg_fail_connect "$bg_pv_h" "$bg_pv_e" "$bg_pv_w" "$bg_pv_s"; return 69; }
  bg_pv_sn=$(bg_pg_major_of "$bg_pv_s") || { echo "bg: cannot read the server's version: $bg_pv_s" >&2; return 1; }
  [ "$bg_pv_cn" -ge "$bg_pv_sn" ] || { echo "bg: pg_dump $bg_pv_c ($bg_pv_path) is older than the server of env $bg_pv_e ($bg_pv_s): pg_dump refuses to dump a newer server; install the client of the server's major version (Debian: postgresql-client-${bg_pv_s%%.*})" >&2; return 1; }
  echo "pg_dump $bg_pv_c ($bg_pv_path), server $bg_pv_s"
}

# bg_pg_space_for HOSTNAME DIR [ENV WHAT CONN(6)]...: free space in DIR (or its nearest existing parent) exceeds the sum of the databases' pg_database_size.
bg_pg_space_for() {
  bg_ps_h=$1; bg_ps_d=$2; shift 2; bg_ps_need=0
  while [ $# -ge 8 ]; do
    bg_ps_e=$1; bg_ps_w=$2; shift 2
    bg_ps_n=$(printf 'SELECT pg_database_size(current_database())\n' | bg_pg_sql "$1" "$2" "$3" "$4" "$5" "$6" 2>&1) || { bg_pg_fail_connect "$bg_ps_h" "$bg_ps_e" "$bg_ps_w" "$bg_ps_n"; return 69; }
    case $bg_ps_n in ''|*[!0-9]*) echo "bg: pg_database_size of env $bg_ps_e: $bg_ps_n" >&2; return 1 ;; esac
    bg_ps_need=$((bg_ps_need + bg_ps_n)); shift 6
  done
  # The backups directory may not exist yet: measure the filesystem of its nearest existing parent.
  while [ ! -d "$bg_ps_d" ]; do bg_ps_d=$(dirname -- "$bg_ps_d"); done
  bg_ps_avail=$(($(df -Pk -- "$bg_ps_d" | awk 'NR==2 {print $4}') * 1024))
  [ "$bg_ps_avail" -gt "$bg_ps_need" ] || { echo "bg: $bg_ps_avail bytes free in $bg_ps_d; a dump of the PostgreSQL databases may take up to their size on the server: $bg_ps_need bytes" >&2; return 1; }
  echo "$bg_ps_avail bytes free, $bg_ps_need needed (pg_database_size)"
}

# Sessions idle inside a transaction for more than :max seconds that hold a granted lock on a table of this database (bg's own session left out).
BG_PG_IDLE_SQL="
SELECT format('pid %s, user %s, application_name %s, idle in transaction for %ss, holds %s', a.pid, coalesce(a.usename, '?'), quote_literal(coalesce(a.application_name, '')),
    extract(epoch FROM now() - a.state_change)::bigint, string_agg(DISTINCT format('%s on %I.%I', l.mode, n.nspname, c.relname), ', '))
  FROM pg_stat_activity a
  JOIN pg_locks l ON l.pid = a.pid AND l.granted AND l.locktype = 'relation' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  JOIN pg_class c ON c.oid = l.relation AND c.relkind IN ('r', 'p', 'm')
  JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
  WHERE a.state IN ('idle in transaction', 'idle in transaction (aborted)') AND a.pid <> pg_backend_pid()
    AND a.state_change < now() - make_interval(secs => :'max')
  GROUP BY a.pid, a.usename, a.application_name, a.state_change ORDER BY a.state_change;
"

# bg_pg_idle_locks HOSTNAME ENV WHAT MAX_SECONDS CONN(6): no session idle in a transaction for more than MAX_SECONDS holds a lock on the database's tables (else one line per session).
bg_pg_idle_locks() {
  bg_pi_h=$1; bg_pi_e=$2; bg_pi_w=$3; bg_pi_max=$4; shift 4
  bg_pi_out=$(printf '%s\n' "$BG_PG_IDLE_SQL" | bg_pg_sql "$@" -v max="$bg_pi_max" 2>&1) || { bg_pg_fail_connect "$bg_pi_h" "$bg_pi_e" "$bg_pi_w" "$bg_pi_out"; return 69; }
  [ -n "$bg_pi_out" ] || { echo "no session idle in a transaction for more than ${bg_pi_max}s holds a lock on a table of $3"; return 0; }
  {
    echo "bg: in the database of env $bg_pi_e ($bg_pi_w), sessions idle in a transaction for more than ${bg_pi_max}s hold locks that DDL, pg_dump or a restore would queue behind (and every query after them):"
    printf '%s\n' "$bg_pi_out" | sed 's/^/  /'
    echo "  end them (COMMIT/ROLLBACK in that client, or SELECT pg_terminate_backend(PID)), or raise idle_in_transaction_max in the inventory"
  } >&2
  return 1
}

# bg_pg_status LABEL CONN(6): bg status's facts of a PostgreSQL env's database, key=value lines (pg, pg_size, fingerprint, migrations; or pg_error with libpq's reason).
bg_pg_status() {
  echo "pg=$1"; shift
  if ! bg_pst=$(printf 'SELECT pg_database_size(current_database());\n' | bg_pg_sql "$@" 2>&1); then
    echo "pg_error=$(printf '%s' "$bg_pst" | tr '\n' ' ' | cut -c1-300)"; return 0
  fi
  echo "pg_size=$bg_pst"
  if bg_pst=$(bg_pg_schema "$@" 2>&1); then
    echo "fingerprint=sha256:$(bg_fingerprint "$bg_pst")"; echo "migrations=$(printf '%s\n' "$bg_pst" | grep -c '^migration ')"
  else
    echo "fingerprint_error=$(printf '%s' "$bg_pst" | tail -n 1)"
  fi
}
