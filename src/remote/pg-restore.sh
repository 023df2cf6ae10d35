# shellcheck shell=sh
# PostgreSQL envs, the other half: migrate (the app's migrator with libpq's PG* variables), putting a
# .pgdump back in place (migrate's undo, the restore action and its undo), what that would discard,
# and the migration listing of the lint gate. A connection is six words, as in pg.sh.
# The variables of bg_pg_restore_db are global on purpose: its EXIT trap reads them after a failure.
# shellcheck disable=SC2034,SC2154


# bg_pg_with CONN(6) FUNCTION ARG...: FUNCTION ARG... in a subshell with the connection exported (what the app's migrator reads).
bg_pg_with() {
  (
    bg_pg_export "$1" "$2" "$3" "$4" "$5" "$6"
    shift 6
    "$@"
  )
}

# bg_pg_migrate_run DIR COMMAND: the migrate command (the user's shell command) run in DIR.
bg_pg_migrate_run() { cd "$1" || return 1; eval "$2"; }

# bg_pg_answers CONN(6) WHAT: the database answers a query after WHAT (the check that replaces SQLite's quick_check).
bg_pg_answers() {
  bg_pa=$(printf 'SELECT 1;\n' | bg_pg_sql "$1" "$2" "$3" "$4" "$5" "$6" 2>&1) || bg_pa="${bg_pa:-psql failed}"
  [ "$bg_pa" = 1 ] || { printf 'bg: PostgreSQL database %s does not answer after %s: %s\n' "$3" "$7" "$(printf '%s\n' "$bg_pa" | tail -n 2)" >&2; return 1; }
  echo "PostgreSQL database $3 answers"
}

# Sessions a restore waits for: the app's (application_name bg-ENV, as share-db and the example app name them, or its pm2 name) and any client in an open transaction (it may hold locks the restore needs).
# Another role's sessions show backend_type NULL (without pg_read_all_stats): counted when they have a user.
BG_PG_SESSIONS_SQL="
SELECT format('pid %s user %s application %s from %s, %s since %s', pid, usename, quote_literal(application_name), coalesce(host(client_addr), 'local socket'), state, to_char(coalesce(xact_start, backend_start), 'YYYY-MM-DD HH24:MI:SS'))
  FROM pg_stat_activity
  WHERE datname = current_database() AND pid <> pg_backend_pid() AND (backend_type = 'client backend' OR (backend_type IS NULL AND usesysid IS NOT NULL))
    AND ((:'app' <> '' AND application_name IN (:'app', :'appenv')) OR xact_start IS NOT NULL)
  ORDER BY pid;
"

# bg_pg_wait_released CONN(6) APP SECONDS [ENV]: until no session of APP (application_name APP or bg-ENV) and no client in an open transaction is on the database; else names them and returns 1 (bg kills no session).
bg_pg_wait_released() {
  bg_pw_n=$(( $8 * 5 )); bg_pw_ae=''; [ -z "${9:-}" ] || bg_pw_ae="bg-$9"
  while :; do
    bg_pw_s=$(printf '%s\n' "$BG_PG_SESSIONS_SQL" | bg_pg_sql "$1" "$2" "$3" "$4" "$5" "$6" -v app="$7" -v appenv="$bg_pw_ae") || return 1
    [ -n "$bg_pw_s" ] || return 0
    bg_pw_n=$((bg_pw_n - 1))
    if [ "$bg_pw_n" -le 0 ]; then
      echo "bg: after ${8}s these sessions are still on $3 (the app's, or in an open transaction that may hold locks the restore needs):" >&2
      printf '%s\n' "$bg_pw_s" | sed 's/^/  /' >&2
      echo "bg: bg ends no session of another client: end them (pg_terminate_backend, or stop that client), then run bg rollback again" >&2
      return 1
    fi
    sleep 0.2
  done
}

# Every table with columns (by name), one "S T C" a line (the migrations table :'mt' by its column :'mc' only, or not at all when :'skip' is 1), each name hex-encoded (no name can break a line or the SQL built from it).
BG_PG_COLUMNS_SQL="
SELECT encode(convert_to(n.nspname, 'UTF8'), 'hex') || ' ' || encode(convert_to(c.relname, 'UTF8'), 'hex') || ' ' || coalesce(encode(convert_to(a.attname, 'UTF8'), 'hex'), '-')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
    AND c.oid NOT IN (SELECT objid FROM pg_depend WHERE deptype = 'e')
    AND (c.relname <> :'mt' OR (a.attname = :'mc' AND :'skip' <> '1'));
"

# For each table of :'cols' ("S T C" lines, hex; C '-': no column): "S T DIGEST ROWS schema.table" (newlines shown as \n) over the listed columns, the digest an md5 of the rows' sorted md5s.
BG_PG_DIGESTS_SQL="
WITH l AS (SELECT split_part(x, ' ', 1) AS hs, split_part(x, ' ', 2) AS ht, split_part(x, ' ', 3) AS c FROM regexp_split_to_table(:'cols', E'\\n') x WHERE x <> ''),
q AS (SELECT hs, ht, format('%I.%I', convert_from(decode(hs, 'hex'), 'UTF8'), convert_from(decode(ht, 'hex'), 'UTF8')) AS qt,
             replace(replace(format('%I.%I', convert_from(decode(hs, 'hex'), 'UTF8'), convert_from(decode(ht, 'hex'), 'UTF8')), E'\\n', '\\n'), E'\\r', '\\r') AS shown,
             coalesce(string_agg(format('%I', convert_from(decode(c, 'hex'), 'UTF8')), ', ' ORDER BY c) FILTER (WHERE c <> '-'), '1') AS cl FROM l GROUP BY hs, ht)
SELECT format('SELECT %L || '' '' || coalesce(md5(string_agg(h, '''' ORDER BY h)), ''-'') || '' '' || count(*) || '' '' || %L FROM (SELECT md5(r::text) AS h FROM (SELECT %s FROM %s) r) d', hs || ' ' || ht, shown, cl, qt) FROM q ORDER BY hs, ht \\gexec
"

# For the one table of :'cols' (lines as above): each row's md5 over the listed columns, one a line.
BG_PG_ROWS_SQL="
WITH l AS (SELECT split_part(x, ' ', 1) AS hs, split_part(x, ' ', 2) AS ht, split_part(x, ' ', 3) AS c FROM regexp_split_to_table(:'cols', E'\\n') x WHERE x <> '')
SELECT format('SELECT md5(r::text) FROM (SELECT %s FROM %I.%I) r', string_agg(format('%I', convert_from(decode(c, 'hex'), 'UTF8')), ', ' ORDER BY c), convert_from(decode(hs, 'hex'), 'UTF8'), convert_from(decode(ht, 'hex'), 'UTF8')) FROM l GROUP BY hs, ht \\gexec
"

# bg_pg_scratch CONN(6) DUMP: restore DUMP into a new scratch database; sets bg_pg_scratch_db (drop it with bg_pg_scratch_drop).
bg_pg_scratch() {
  bg_pg_scratch_db="bg_cmp_$(date +%s)_$$"
  printf 'CREATE DATABASE "%s" TEMPLATE template0\n' "$bg_pg_scratch_db" | bg_pg_sql "$1" "$2" "$3" "$4" "$5" "$6" || { echo "bg: could not create the scratch database $bg_pg_scratch_db (the role needs CREATEDB)" >&2; bg_pg_scratch_db=''; return 1; }
  bg_ps_err=$(bg_pg "$1" "$2" "$bg_pg_scratch_db" "$4" "$5" "$6" pg_restore --no-owner --no-privileges --exit-on-error -d "$bg_pg_scratch_db" "$7" 2>&1) || { printf 'bg: restoring %s into a scratch database failed: %s\n' "$7" "$(printf '%s\n' "$bg_ps_err" | tail -n 3)" >&2; return 1; }
}

# bg_pg_scratch_drop CONN(6): drop the scratch database of bg_pg_scratch, if any.
bg_pg_scratch_drop() {
  [ -n "${bg_pg_scratch_db:-}" ] || return 0
  printf 'DROP DATABASE IF EXISTS "%s"\n' "$bg_pg_scratch_db" | bg_pg_sql "$1" "$2" "$3" "$4" "$5" "$6" || echo "bg: could not drop the scratch database $bg_pg_scratch_db" >&2
  bg_pg_scratch_db=''
}

# bg_pg_extra CONN(6) DUMP [TABLE [COLUMN [SKIP]]]: "schema.table|rows" for every table of the database holding rows DUMP lacks, by content over the columns both have (TABLE, the migrations table: by COLUMN only; left out when SKIP is 1).
bg_pg_extra() {
  bg_pg_scratch "$1" "$2" "$3" "$4" "$5" "$6" "$7" || { bg_pg_scratch_drop "$1" "$2" "$3" "$4" "$5" "$6"; return 1; }
  bg_px_rc=0
  bg_pg_extra_in "$1" "$2" "$3" "$4" "$5" "$6" "$bg_pg_scratch_db" "${8:-migrations}" "${9:-name}" "${10:-0}" || bg_px_rc=1
  bg_pg_scratch_drop "$1" "$2" "$3" "$4" "$5" "$6"
  return "$bg_px_rc"
}

# bg_pg_extra_in CONN(6) OTHER TABLE COLUMN SKIP: (bg_pg_extra's comparison) the database against the database OTHER on the same server.
bg_pg_extra_in() {
  bg_pe_d=$(mktemp -d) || return 1
  bg_pe_rc=0
  (
    printf '%s\n' "$BG_PG_COLUMNS_SQL" | bg_pg_sql "$1" "$2" "$3" "$4" "$5" "$6" -v mt="$8" -v mc="$9" -v skip="${10}" > "$bg_pe_d/a0" || exit 1
    printf '%s\n' "$BG_PG_COLUMNS_SQL" | bg_pg_sql "$1" "$2" "$7" "$4" "$5" "$6" -v mt="$8" -v mc="$9" -v skip="${10}" > "$bg_pe_d/b0" || exit 1
    LC_ALL=C sort "$bg_pe_d/a0" > "$bg_pe_d/a" || exit 1
    LC_ALL=C sort "$bg_pe_d/b0" > "$bg_pe_d/b" || exit 1
    # Columns both have (rows are compared over them); a table of the database that the dump lacks,
    # or shares no column with, is listed with '-' (all its rows count).
    LC_ALL=C comm -12 "$bg_pe_d/a" "$bg_pe_d/b" > "$bg_pe_d/both"
    cut -d ' ' -f 1,2 "$bg_pe_d/both" | LC_ALL=C sort -u > "$bg_pe_d/shared" || exit 1
    cut -d ' ' -f 1,2 "$bg_pe_d/a" | LC_ALL=C sort -u | LC_ALL=C comm -23 - "$bg_pe_d/shared" | sed 's/$/ -/' > "$bg_pe_d/only" || exit 1
    [ -s "$bg_pe_d/both" ] || [ -s "$bg_pe_d/only" ] || exit 0
    printf '%s\n' "$BG_PG_DIGESTS_SQL" | bg_pg_sql "$1" "$2" "$3" "$4" "$5" "$6" -v cols="$(cat "$bg_pe_d/both" "$bg_pe_d/only")" > "$bg_pe_d/da" || exit 1
    printf '%s\n' "$BG_PG_DIGESTS_SQL" | bg_pg_sql "$1" "$2" "$7" "$4" "$5" "$6" -v cols="$(cat "$bg_pe_d/both")" > "$bg_pe_d/db" || exit 1
    while read -r bg_pe_hs bg_pe_ht bg_pe_dig bg_pe_n bg_pe_name; do
      [ "$bg_pe_n" != 0 ] || continue
      bg_pe_o=$(awk -v s="$bg_pe_hs" -v t="$bg_pe_ht" '$1 == s && $2 == t { print $3; exit }' "$bg_pe_d/db")
      [ "$bg_pe_o" != "$bg_pe_dig" ] || continue
      if [ -z "$bg_pe_o" ]; then printf '%s|%s\n' "$bg_pe_name" "$bg_pe_n"; continue; fi
      # Rows by md5 over the shared columns, as multisets: comm counts a repeated line once per copy.
      grep "^$bg_pe_hs $bg_pe_ht " "$bg_pe_d/both" > "$bg_pe_d/one" || exit 1
      printf '%s\n' "$BG_PG_ROWS_SQL" | bg_pg_sql "$1" "$2" "$3" "$4" "$5" "$6" -v cols="$(cat "$bg_pe_d/one")" > "$bg_pe_d/r0" || exit 1
      LC_ALL=C sort "$bg_pe_d/r0" > "$bg_pe_d/ra" || exit 1
      printf '%s\n' "$BG_PG_ROWS_SQL" | bg_pg_sql "$1" "$2" "$7" "$4" "$5" "$6" -v cols="$(cat "$bg_pe_d/one")" > "$bg_pe_d/r0" || exit 1
      LC_ALL=C sort "$bg_pe_d/r0" > "$bg_pe_d/rb" || exit 1
      bg_pe_x=$(LC_ALL=C comm -23 "$bg_pe_d/ra" "$bg_pe_d/rb" | wc -l | tr -d ' ')
      [ "$bg_pe_x" = 0 ] || printf '%s|%s\n' "$bg_pe_name" "$bg_pe_x"
    done < "$bg_pe_d/da"
  ) || bg_pe_rc=1
  rm -rf "$bg_pe_d"
  return "$bg_pe_rc"
}

# In the restore's transaction, before the dump's own script: the user schemas' tables, views, sequences, routines and types go (objects a migration created are not in the dump, and would keep a dropped table's dependants alive).
BG_PG_DROP_SQL="
SELECT format('DROP %s IF EXISTS %I.%I CASCADE', CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, n.nspname, c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
    AND c.oid NOT IN (SELECT objid FROM pg_depend WHERE deptype = 'e') AND NOT c.relispartition
  ORDER BY c.relkind DESC, c.relname \\gexec
SELECT format('DROP ROUTINE IF EXISTS %I.%I(%s) CASCADE', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid))
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND p.prokind IN ('f', 'p', 'a', 'w') AND p.oid NOT IN (SELECT objid FROM pg_depend WHERE deptype = 'e') \\gexec
SELECT format('DROP TYPE IF EXISTS %I.%I CASCADE', n.nspname, t.typname)
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace LEFT JOIN pg_class c ON c.oid = t.typrelid
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND t.typtype IN ('e', 'd', 'r', 'c') AND (t.typtype <> 'c' OR c.relkind = 'c')
    AND t.oid NOT IN (SELECT objid FROM pg_depend WHERE deptype = 'e') \\gexec
"

# bg_pg_restore_db CONN(6) DUMP APP RELEASE_S RUNID MISSING TABLE COLUMN [BEFORE RECORD ACCEPT ENV]: stop APP, put DUMP in place of the database in one transaction (the database as it was dumped first), verify, start APP again.
bg_pg_restore_db() {
  set -e
  bg_pr_c1=$1; bg_pr_c2=$2; bg_pr_c3=$3; bg_pr_c4=$4; bg_pr_c5=$5; bg_pr_c6=$6; shift 6
  bg_pr_bak=$1; bg_pr_app=$2; bg_pr_release=$3; bg_pr_run=$4; bg_pr_missing=$5; bg_pr_mt=$6; bg_pr_mc=$7
  bg_pr_before=${8:-}; bg_pr_record=${9:-}; bg_pr_accept=${10:-0}; bg_pr_env=${11:-}
  set -- "$bg_pr_c1" "$bg_pr_c2" "$bg_pr_c3" "$bg_pr_c4" "$bg_pr_c5" "$bg_pr_c6"
  test -f "$bg_pr_bak" || { printf '%s\n' "$bg_pr_missing" >&2; exit 1; }
  { test -f "$bg_pr_bak.counts" && test -f "$bg_pr_bak.schema"; } || { echo "bg: $bg_pr_bak has no .counts and .schema beside it (recorded by bg's backup): the restore could not be verified, so it is refused" >&2; exit 1; }
  bg_pg "$@" pg_restore --list "$bg_pr_bak" >/dev/null 2>&1 || { echo "bg: $bg_pr_bak is no readable pg_dump archive (pg_restore --list failed)" >&2; exit 1; }
  bg_pr_restart=''; bg_pr_done=''; bg_pr_sql=''
  # Stopped half-way (a failure, Ctrl-C, SIGTERM, a timeout): an app this stopped is started again, on
  # the database as it was (the restore is one transaction) or as restored, and that is said.
  trap 'bg_pr_rc=$?; trap - EXIT; [ -z "$bg_pr_sql" ] || rm -f "$bg_pr_sql"; [ "$bg_pr_rc" -eq 0 ] || [ -z "$bg_pr_restart" ] || bg_pg_restore_leftover "$bg_pr_app" "$bg_pr_done"; exit "$bg_pr_rc"' EXIT
  trap 'exit 130' INT; trap 'exit 143' TERM
  if [ -n "$bg_pr_app" ]; then
    bg_pr_procs=$(bg_pm2_procs "$bg_pr_app")
    if printf '%s\n' "$bg_pr_procs" | grep -q ' online '; then bg_pr_restart=1; pm2 stop "$bg_pr_app" >/dev/null; echo "stopped $bg_pr_app"; fi
  fi
  if ! bg_pg_wait_released "$@" "$bg_pr_app" "$bg_pr_release" "$bg_pr_env"; then
    [ -z "$bg_pr_restart" ] || { pm2 start "$bg_pr_app" >/dev/null; bg_pr_restart=''; echo "bg: started $bg_pr_app again; nothing was changed" >&2; }
    exit 1
  fi
  if [ -n "$bg_pr_before" ]; then
    bg_pg_restore_before "$@"
  else
    # The database as it is, kept (never pruned: not named as a backup) before it is replaced.
    bg_pr_aside="$bg_pr_bak.rolled-back"; [ ! -e "$bg_pr_aside" ] || bg_pr_aside="$bg_pr_aside.$(date +%s)"
    bg_pg_backup "$@" "$(dirname "$bg_pr_bak")" "$bg_pr_aside" "$bg_pr_mt" "$bg_pr_mc" >/dev/null
    echo "the database as it was is kept in $bg_pr_aside (pg_restore it to get it back)"
  fi
  # The dump as SQL first (a truncated script must never reach psql: it would commit what it got).
  bg_pr_sql=$(mktemp "$(dirname "$bg_pr_bak")/.bg-restore.XXXXXX")
  bg_pg "$@" pg_restore --clean --if-exists --no-owner -f "$bg_pr_sql" "$bg_pr_bak"
  # One transaction: our drops, then the dump's script; lock_timeout bounds the wait for a lock another client holds.
  bg_pr_err=$(printf '%s\n' "$BG_PG_DROP_SQL" | PGOPTIONS="-c lock_timeout=${BG_PG_LOCK_TIMEOUT:-10s}" bg_pg_sql "$@" --single-transaction -f - -f "$bg_pr_sql" 2>&1 >/dev/null) || {
    printf 'bg: restoring %s into %s failed, nothing was changed (one transaction): %s\n' "$bg_pr_bak" "$3" "$(printf '%s\n' "$bg_pr_err" | tail -n 3)" >&2; exit 1; }
  bg_pr_done=1
  echo "restored PostgreSQL database $3 from $bg_pr_bak (one transaction)"
  bg_pg_restore_verify "$@" "$bg_pr_bak" "$bg_pr_mt" "$bg_pr_mc"
  if [ -n "$bg_pr_restart" ]; then pm2 start "$bg_pr_app" >/dev/null; bg_pm2_wait_online "$bg_pr_app" 30; bg_pr_restart=''; echo "started $bg_pr_app"; fi
}

# bg_pg_restore_before CONN(6): (inside bg_pg_restore_db, app stopped) refuse rows the dump lacks unless accepted, then dump the database as it is to BEFORE (what the undo restores).
bg_pg_restore_before() {
  bg_pb_x=$(bg_pg_extra "$@" "$bg_pr_bak" "$bg_pr_mt" "$bg_pr_mc") || exit 1
  bg_pb_x=$(printf '%s\n' "$bg_pb_x" | awk -F '|' 'NF > 1 { c = $NF; printf "%s%s %s rows", (n++ ? ", " : ""), substr($0, 1, length($0) - length(c) - 1), c }')
  if [ -n "$bg_pb_x" ]; then
    if [ "$bg_pr_accept" = 1 ]; then
      echo "restoring discards rows of $bg_pr_env written after the backup (accepted; they stay in the copy taken first): $bg_pb_x"
    else
      [ -z "$bg_pr_restart" ] || { pm2 start "$bg_pr_app" >/dev/null; bg_pr_restart=''; }
      echo "bg: restoring would discard rows of $bg_pr_env written after the backup: $bg_pb_x" >&2
      echo "bg: nothing was changed; pass --accept-data-loss to restore anyway (the database as it is now is dumped first)" >&2
      exit 1
    fi
  fi
  bg_pg_backup "$@" "$(dirname "$bg_pr_before")" "$bg_pr_before" "$bg_pr_mt" "$bg_pr_mc" >/dev/null
  bg_pg_backup_verify "$@" "$bg_pr_before" "$bg_pr_mt" "$bg_pr_mc" >/dev/null
  mkdir -p "$(dirname "$bg_pr_record")"
  printf '%s\n' "$bg_pr_before" > "$bg_pr_record"
  echo "the database as it was is backed up to $bg_pr_before (verified; undo restores it)"
}

# bg_pg_restore_leftover APP DONE: after a restore stopped half-way, start APP again and say on which database.
bg_pg_restore_leftover() {
  if pm2 start "$1" >/dev/null 2>&1; then
    if [ -n "$2" ]; then echo "bg: the restore stopped after the dump was put in place; started $1 again on the restored database" >&2
    else echo "bg: the restore stopped before the database was replaced; started $1 again on it, unchanged" >&2; fi
    return 0
  fi
  echo "bg: the restore stopped half-way and pm2 start $1 failed: $1 is left stopped" >&2
}

# bg_pg_restore_verify CONN(6) DUMP TABLE COLUMN: the database's row counts and schema fingerprint equal those recorded with DUMP (.counts, .schema).
bg_pg_restore_verify() {
  [ "$(bg_pg_counts "$1" "$2" "$3" "$4" "$5" "$6")" = "$(cat "$7.counts")" ] || { echo "bg: row counts of $3 differ from those recorded with $7" >&2; return 1; }
  [ "$(bg_pg_schema "$1" "$2" "$3" "$4" "$5" "$6" "$8" "$9")" = "$(cat "$7.schema")" ] || { echo "bg: the schema of $3 differs from the one recorded with $7" >&2; return 1; }
  echo "row counts and schema sha256:$(bg_fingerprint "$(cat "$7.schema")") equal those of $7"
}

# bg_pg_rows_since CONN(6) DUMP TABLE ENV RUNID WHAT [GUARD]: "ENV: rows written to DATABASE WHAT (kept in DUMP.rolled-back): …" for rows the database holds and DUMP lacks.
bg_pg_rows_since() {
  [ -z "${13:-}" ] || [ -f "${13}" ] || return 0
  [ -f "$7" ] || return 0
  # The migrations table is left out: its rows are what the undo is meant to drop.
  bg_ps_x=$(bg_pg_extra "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" name 1) || return 1
  bg_ps_x=$(printf '%s\n' "$bg_ps_x" | awk -F '|' 'NF > 1 { c = $NF; printf "%s%s %s rows", (n++ ? ", " : ""), substr($0, 1, length($0) - length(c) - 1), c }')
  [ -z "$bg_ps_x" ] || echo "$9: rows written to PostgreSQL database $3 ${11} (kept in $7.rolled-back): $bg_ps_x"
}

# bg_pg_restore_discards CONN(6) DUMP TABLE: "T N rows, …": the rows of the database that DUMP lacks; 3 when DUMP is missing, 4 when it is a symlink.
bg_pg_restore_discards() {
  [ ! -L "$7" ] || return 4
  [ -f "$7" ] || return 3
  bg_pd_x=$(bg_pg_extra "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8") || return 1
  printf '%s\n' "$bg_pd_x" | awk -F '|' 'NF > 1 { c = $NF; printf "%s%s %s rows", (n++ ? ", " : ""), substr($0, 1, length($0) - length(c) - 1), c }'
}

# bg_pg_dump_ok FILE: FILE is a plain file and a readable pg_dump archive (pg_restore --list; no connection).
bg_pg_dump_ok() {
  [ ! -L "$1" ] || { echo "bg: $1 is a symbolic link, not a backup bg wrote" >&2; return 1; }
  [ -f "$1" ] || { echo "bg: no such backup: $1" >&2; return 1; }
  pg_restore --list "$1" >/dev/null 2>&1 || { echo "bg: $1 is no readable pg_dump archive (pg_restore --list failed)" >&2; return 1; }
}

# bg_pg_migration_listing DIR CONN(6) SQL MISSING: the database's live schema ("Bschema live", pg_dump --schema-only without psql's backslash lines), then each .sql file of DIR as bg_migration_files prints them, applied when a row of SQL names it.
bg_pg_migration_listing() {
  [ -d "$1" ] || { printf '%s\n' "${9}" >&2; return 1; }
  bg_pl_b=${BG_MIGRATION_BOUNDARY:-@@}
  bg_pl_s=$(bg_pg "$2" "$3" "$4" "$5" "$6" "$7" pg_dump --schema-only --no-owner --no-privileges) || return 1
  printf '%sschema live\n' "$bg_pl_b"
  printf '%s\n' "$bg_pl_s" | grep -v '^[\]'
  bg_pl_applied=$(printf '%s\n' "$8" | bg_pg_sql "$2" "$3" "$4" "$5" "$6" "$7" 2>/dev/null || true)
  # shellcheck disable=SC2010 # file names are read one a line; a name with a newline is not a migration
  ls -1 "$1" | grep '\.sql$' | sort -V | while IFS= read -r bg_pl_f; do
    if printf '%s\n' "$bg_pl_applied" | grep -qxF -e "$bg_pl_f" -e "${bg_pl_f%.sql}"; then printf '%sapplied %s\n' "$bg_pl_b" "$bg_pl_f"; else printf '%spending %s\n' "$bg_pl_b" "$bg_pl_f"; fi
    cat "$1/$bg_pl_f"; echo
  done
}
