# shellcheck shell=sh
# share-db on PostgreSQL envs: freeze (apps stopped, no connection left), base by content, the
# shared database made with CREATE DATABASE ... TEMPLATE base, each env's PGDATABASE line switched
# in its env file, apps restarted with --update-env, verified in pg_stat_activity; and back.
# Every step takes the same tail: SD SHARED HOST PORT USER SERVICE PASSWORD, then NAME DATABASE APP
# HEALTH ENVFILE per env (the envs share one server and role; only the database differs).
# Names reach SQL only as psql variables (:'name', format %I), never as SQL text.
# shellcheck disable=SC2034,SC2154,SC2015,SC2086

# bg_pgs_envs SD SHARED HOST PORT USER SERVICE PASSWORD NAME DB APP HEALTH FILE...: sets sd, shared, the connection, envs, and db_of/app_of/health_of/file_of.
bg_pgs_envs() {
  sd=$1; shared=$2; bg_pc1=$3; bg_pc2=$4; bg_pc4=$5; bg_pc5=$6; bg_pc6=$7; shift 7; envs=''; bg_ei=0
  while [ $# -ge 5 ]; do
    bg_ei=$((bg_ei + 1)); envs="$envs${envs:+ }$1"
    # Only the variable names are built here (from a counter); the values stay data.
    eval "bg_env_d_$bg_ei=\$2; bg_env_a_$bg_ei=\$3; bg_env_h_$bg_ei=\$4; bg_env_f_$bg_ei=\$5"
    shift 5
  done
}

# file_of NAME: the env file of env NAME (see bg_pgs_envs).
file_of() { bg_env_field f "$1"; }

# bg_pgs_sql DATABASE [PSQL OPTION...]: psql on DATABASE of the envs' server, SQL on stdin.
bg_pgs_sql() { bg_pgs_db=$1; shift; bg_pg_sql "$bg_pc1" "$bg_pc2" "$bg_pgs_db" "$bg_pc4" "$bg_pc5" "$bg_pc6" "$@"; }

# bg_pgs_lists: the envs' application names (bg-NAME) and their databases, one a line, as psql variables an and dbs take them.
bg_pgs_lists() {
  bg_pgs_an=''; bg_pgs_dbs=''
  for e in $envs; do bg_pgs_an="$bg_pgs_an${bg_pgs_an:+
}bg-$e"; bg_pgs_dbs="$bg_pgs_dbs${bg_pgs_dbs:+
}$(db_of "$e")"; done
}

# bg_pgs_sessions DATABASE [apps]: "database application pid" of every other client connection to the envs' databases or by the envs' applications (apps: only the latter).
bg_pgs_sessions() {
  bg_pgs_lists
  # Another role's sessions show backend_type NULL (insufficient privilege): counted when they have a user (autovacuum has none).
  printf '%s\n' "SELECT format('%s %s %s', datname, coalesce(nullif(application_name, ''), '-'), pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND (backend_type = 'client backend' OR (backend_type IS NULL AND usesysid IS NOT NULL)) AND ((:'mode' = 'all' AND datname = ANY (string_to_array(:'dbs', chr(10)))) OR application_name = ANY (string_to_array(:'an', chr(10)))) ORDER BY 1;" \
    | bg_pgs_sql "$1" -v dbs="$bg_pgs_dbs" -v an="$bg_pgs_an" -v mode="${2:-all}"
}

# bg_pgs_exists DATABASE: 0 when a database of that name exists on the server (asked through the first env's database).
bg_pgs_exists() {
  bg_pgs_x=$(printf '%s\n' "SELECT 1 FROM pg_database WHERE datname = :'d';" | bg_pgs_sql "$(db_of "${envs%% *}")" -v d="$1") || return 2
  [ -n "$bg_pgs_x" ]
}

# bg_pgs_envfile_db FILE: the value of the last PGDATABASE definition in FILE (one level of quotes removed), empty when none.
bg_pgs_envfile_db() {
  [ -f "$1" ] || return 0
  bg_pgs_l=$(bg_env_lines "$(bg_env_real "$1")" PGDATABASE | tail -n 1)
  [ -n "$bg_pgs_l" ] || return 0
  bg_pgs_v=${bg_pgs_l#*=}; bg_pgs_v=$(printf '%s' "$bg_pgs_v" | sed 's/^[ \t]*//; s/[ \t]*$//')
  case $bg_pgs_v in \'*\') bg_pgs_v=${bg_pgs_v#\'}; bg_pgs_v=${bg_pgs_v%\'} ;; \"*\") bg_pgs_v=${bg_pgs_v#\"}; bg_pgs_v=${bg_pgs_v%\"} ;; esac
  printf '%s' "$bg_pgs_v"
}

# bg_pg_envfile_agrees ENV FILE DATABASE: pre-flight of a PostgreSQL env's database action: FILE does not name another PGDATABASE than the inventory's (the app would use that one).
bg_pg_envfile_agrees() {
  bg_pgs_e=$(bg_pgs_envfile_db "$2")
  [ -z "$bg_pgs_e" ] || [ "$bg_pgs_e" = "$3" ] || { echo "bg: env $1: $2 sets PGDATABASE=$bg_pgs_e but the inventory says database $3: the app uses $bg_pgs_e (after share-db?), so bg will not work on $3; update the inventory, or bg rollback the share-db (nothing was changed)" >&2; exit 1; }
  echo "$1: the app's database is ${bg_pgs_e:-not named in $2} (inventory: $3)"
}

# bg_pgs_ready TAIL: pre-flight: each env reachable, its env file names its database as PGDATABASE (and no DATABASE_URL), the role may create databases, no SHARED yet.
bg_pgs_ready() {
  bg_pgs_envs "$@"
  for e in $envs; do
    db=$(db_of "$e"); f=$(file_of "$e")
    echo 'SELECT 1;' | bg_pgs_sql "$db" >/dev/null || { echo "bg: cannot connect to the database $db of env $e" >&2; exit 1; }
    [ -f "$f" ] || { echo "bg: env $e has no env file $f: share-db switches its PGDATABASE line there" >&2; exit 1; }
    [ -z "$(bg_env_lines "$(bg_env_real "$f")" DATABASE_URL)" ] || { echo "bg: $f sets DATABASE_URL: the app would keep its database from it; share-db switches PGDATABASE (name the database with PG* variables)" >&2; exit 1; }
    fdb=$(bg_pgs_envfile_db "$f")
    [ "$fdb" = "$db" ] || { echo "bg: $f sets PGDATABASE=${fdb:-(nothing)}, the inventory says $db for env $e: already shared? (the app's database must be named by PGDATABASE there)" >&2; exit 1; }
  done
  ok=$(echo 'SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user;' | bg_pgs_sql "$db") || exit 1
  [ "$ok" = t ] || { echo "bg: the role cannot create databases (CREATEDB): share-db makes $shared with CREATE DATABASE ... TEMPLATE" >&2; exit 1; }
  if bg_pgs_exists "$shared"; then echo "bg: the shared database $shared already exists: bg will not overwrite it" >&2; exit 1; fi
  echo "ready: $(echo "$envs" | tr ' ' ','): PGDATABASE in their env files as in the inventory, $shared free, the role has CREATEDB"
}

# bg_pgs_capture TAIL: record in SD/apps which apps of the envs are online.
bg_pgs_capture() {
  bg_pgs_envs "$@"
  mkdir -p "$sd"; : > "$sd/apps.tmp"
  for e in $envs; do
    a=$(app_of "$e"); procs=$(bg_pm2_procs "$a") || exit 1
    [ -n "$procs" ] || { echo "bg: pm2 knows no app named $a (env $e): check the inventory and PM2_HOME" >&2; exit 1; }
    if printf '%s\n' "$procs" | grep -q ' online '; then echo "$e online"; else echo "$e down"; fi >> "$sd/apps.tmp"
  done
  mv "$sd/apps.tmp" "$sd/apps"
}

# bg_pgs_wait_released SECONDS [apps]: until no other connection is on the envs' databases or by their applications (apps: only the latter; pg_stat_activity), else 1 naming them.
bg_pgs_wait_released() {
  bg_pgs_n=$(( $1 * 10 ))
  while :; do
    bg_pgs_s=$(bg_pgs_sessions "$(db_of "${envs%% *}")" "${2:-}") || return 1
    [ -n "$bg_pgs_s" ] || return 0
    bg_pgs_n=$((bg_pgs_n - 1))
    [ "$bg_pgs_n" -gt 0 ] || { echo "bg: connections still open $1 s after the apps stopped (database application pid): $(printf '%s' "$bg_pgs_s" | tr '\n' ';')" >&2; return 1; }
    sleep 0.1
  done
}

# bg_pgs_freeze RELEASE_S TAIL: stop the envs' apps and wait until PostgreSQL shows no connection left on their databases or by their applications.
bg_pgs_freeze() {
  bg_pgs_rel=$1; shift; bg_pgs_envs "$@"
  set -e
  if bg_pgs_exists "$shared"; then echo "bg: the shared database $shared already exists: bg will not overwrite it (nothing was changed)" >&2; exit 1; fi
  date +%s%N > "$sd/freeze-start"
  bg_jobs=''; for e in $envs; do pm2 stop "$(app_of "$e")" >/dev/null & bg_jobs="$bg_jobs $!"; done
  for j in $bg_jobs; do wait "$j"; done
  bg_pgs_wait_released "$bg_pgs_rel"
  echo "writes frozen: the apps of $envs are stopped and PostgreSQL shows no connection on their databases"
}

# Every row of every user table as "schema.table<TAB>md5 of the row's text" (the migrations table: its name column only, as on SQLite).
BG_PGS_ROWS_SQL="
SELECT format('SELECT %L || chr(9) || md5(%s::text) FROM %I.%I t', format('%I.%I', n.nspname, c.relname),
  CASE WHEN c.relname = :'mt' AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = :'mc' AND NOT a.attisdropped) THEN format('t.%I', :'mc') ELSE 't' END, n.nspname, c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
  ORDER BY 1 \\gexec
"

# bg_pgs_rows DATABASE TABLE COLUMN OUT: the row digests of DATABASE, sorted and unique, into OUT.
bg_pgs_rows() {
  printf '%s\n' "$BG_PGS_ROWS_SQL" | bg_pgs_sql "$1" -v mt="$2" -v mc="$3" | LC_ALL=C sort -u > "$4"
}

# bg_pgs_extra A B: per table, how many rows of digest file B are not in digest file A ("table n" lines).
bg_pgs_extra() { LC_ALL=C comm -13 "$1" "$2" | cut -f1 | uniq -c | awk '{ n = $1; sub(/^ *[0-9]+ /, ""); print $0 " " n }'; }

# bg_pgs_copy BASE SAME_SCHEMA TABLE COLUMN TAIL: same schema, the base by content, CREATE DATABASE SHARED TEMPLATE base; its rows and schema checked.
bg_pgs_copy() {
  base=$1; bg_pgs_same=$2; mt=$3; mc=$4; shift 4; bg_pgs_envs "$@"
  set -e
  first=''
  for e in $envs; do
    bg_pg_schema "$bg_pc1" "$bg_pc2" "$(db_of "$e")" "$bg_pc4" "$bg_pc5" "$bg_pc6" "$mt" "$mc" > "$sd/schema-$e"
    if [ -z "$first" ]; then first=$e; continue; fi
    [ "$bg_pgs_same" = 1 ] || continue
    bg_schema_text_compare "$first" "$(cat "$sd/schema-$first")" "$e" "$(cat "$sd/schema-$e")" >/dev/null || { echo "bg: refusing to share databases whose schemas differ (phase1 brings them level)" >&2; exit 1; }
  done
  # The base: the env whose database holds every row of the others, compared by a digest of each row's text.
  for e in $envs; do bg_pgs_rows "$(db_of "$e")" "$mt" "$mc" "$sd/rows-$e"; done
  bg_base=''; : > "$sd/rows"
  for c in $envs; do
    ok=1
    for o in $envs; do
      [ "$o" != "$c" ] || continue
      x=$(bg_pgs_extra "$sd/rows-$c" "$sd/rows-$o")
      if [ -n "$x" ]; then ok=0; echo "rows in $o that $c lacks: $(printf '%s\n' "$x" | tr '\n' ',' | sed 's/,$//; s/,/, /g')"; else echo "$c holds every row of $o"; fi >> "$sd/rows"
    done
    [ "$ok" = 0 ] || [ -n "$bg_base" ] || bg_base=$c
  done
  cat "$sd/rows"
  if [ "$base" = auto ]; then
    [ -n "$bg_base" ] || { echo "bg: each database holds rows another lacks, so share-db will not choose a base:" >&2; grep '^rows in ' "$sd/rows" | sed 's/^/  /' >&2; echo "  give with.base (phase2: --var base=ENV); the rows only the others hold then stay in their own databases" >&2; exit 1; }
    base=$bg_base
  fi
  echo "$base" > "$sd/base"
  src=$(db_of "$base")
  # CREATE DATABASE runs from another env's database: nobody may be connected to the template.
  via=''; for e in $envs; do [ "$e" = "$base" ] || { via=$(db_of "$e"); break; }; done
  for e in $envs; do bg_pg_counts "$bg_pc1" "$bg_pc2" "$(db_of "$e")" "$bg_pc4" "$bg_pc5" "$bg_pc6" > "$sd/old-$e"; done
  echo "$shared" > "$sd/created"
  printf '%s\n' "SELECT format('CREATE DATABASE %I TEMPLATE %I', :'new', :'src') \\gexec" | bg_pgs_sql "$via" -v new="$shared" -v src="$src" \
    || { echo "bg: CREATE DATABASE $shared TEMPLATE $src failed (is a session still connected to $src?)" >&2; exit 1; }
  [ "$(bg_pg_counts "$bg_pc1" "$bg_pc2" "$shared" "$bg_pc4" "$bg_pc5" "$bg_pc6")" = "$(cat "$sd/old-$base")" ] || { echo "bg: $shared does not hold the rows of $src" >&2; exit 1; }
  [ "$(bg_pg_schema "$bg_pc1" "$bg_pc2" "$shared" "$bg_pc4" "$bg_pc5" "$bg_pc6" "$mt" "$mc")" = "$(cat "$sd/schema-$base")" ] || { echo "bg: the schema of $shared differs from $src" >&2; exit 1; }
  bg_pgs_why='given as with.base'; [ "$base" != "$bg_base" ] || bg_pgs_why='it holds every row of the others'
  echo "made $shared from $base ($src: $bg_pgs_why) with CREATE DATABASE ... TEMPLATE: schema sha256:$(bg_fingerprint "$(cat "$sd/schema-$base")"); rows: $(tr '\n' ' ' < "$sd/old-$base")"
}

# bg_pgs_switch LINE TAIL: LINE (PGDATABASE=SHARED) becomes the PGDATABASE definition of each env's file (saved as env-set does, in SD/env-NAME).
bg_pgs_switch() {
  bg_pgs_line=$1; shift; bg_pgs_envs "$@"
  set -e
  for e in $envs; do
    echo "$e" >> "$sd/switched"
    # In subshells: envfile.sh's functions set sd and other globals of their own.
    ( bg_env_capture "$sd/env-$e" "$(file_of "$e")" PGDATABASE )
    ( bg_env_set "$sd/env-$e" "$(file_of "$e")" PGDATABASE "$bg_pgs_line" )
  done
}

# bg_pgs_start WAIT_S: start the apps that were online (--update-env: their environment from now, the env file read again), wait until online.
bg_pgs_start() {
  bg_jobs=''; for e in $envs; do if grep -qx "$e online" "$sd/apps"; then pm2 start "$(app_of "$e")" --update-env >/dev/null & bg_jobs="$bg_jobs $!"; fi; done
  for j in $bg_jobs; do wait "$j" || return 1; done
  for e in $envs; do if grep -qx "$e online" "$sd/apps"; then bg_pm2_wait_online "$(app_of "$e")" "$1" || return 1; fi; done
}

# bg_pgs_restart WAIT_S HOLD_MS TAIL: start the apps again, wait until they answer their health URL; report the freeze (HOLD_MS: the proxy's hold window, 0 without one).
bg_pgs_restart() {
  bg_pgs_wait=$1; bg_pgs_hold=$2; shift 2; bg_pgs_envs "$@"
  set -e
  echo started > "$sd/started"
  bg_pgs_start "$bg_pgs_wait"
  bg_share_back "$bg_pgs_wait" "$bg_pgs_hold"
}

# bg_pgs_hold_check HOLD_MS MARGIN_PCT EXPECTED CONFIG RETRIES CONNECT_MS SOCKET TAIL: the proxy's hold window against the expected freeze (EXPECTED ms, or auto: from the databases' size).
bg_pgs_hold_check() {
  bg_pgs_h=$1; bg_pgs_m=$2; bg_pgs_x=$3; bg_pgs_c=$4; bg_pgs_r=$5; bg_pgs_t=$6; bg_pgs_k=$7; shift 7; bg_pgs_envs "$@"
  if [ "$bg_pgs_x" = auto ]; then
    bg_pgs_lists
    by=$(printf '%s\n' "SELECT coalesce(sum(pg_database_size(datname)), 0) FROM pg_database WHERE datname = ANY (string_to_array(:'dbs', chr(10)));" | bg_pgs_sql "$(db_of "${envs%% *}")" -v dbs="$bg_pgs_dbs") || exit 1
    # As on SQLite (README, share-db): 4 s of stopping and starting, 1 s per 40 MB read (row digests) and copied.
    bg_pgs_x=$((4000 + by / 40000))
    echo "expected freeze: $bg_pgs_x ms (estimated from $((by / 1048576)) MB of databases: 4 s + 1 s per 40 MB)"
  fi
  bg_share_hold_check "$bg_pgs_h" "$bg_pgs_m" "$bg_pgs_x" "$bg_pgs_c" "$bg_pgs_r" "$bg_pgs_t" "$bg_pgs_k"
}

# bg_pgs_verify_open TAIL: each online env's application (bg-NAME) holds connections on SHARED and none elsewhere; its env file names SHARED.
bg_pgs_verify_open() {
  bg_pgs_envs "$@"
  for e in $envs; do
    f=$(file_of "$e"); v=$(bg_pgs_envfile_db "$f")
    [ "$v" = "$shared" ] || { echo "bg: $f sets PGDATABASE=$v, not $shared" >&2; exit 1; }
    grep -qx "$e online" "$sd/apps" || continue
    h=$(health_of "$e"); [ -z "$h" ] || curl -s -g --proto =http,https -o /dev/null --max-time 2 --url "$h" || true
    held=$(printf '%s\n' "SELECT format('%s %s', datname, count(*)) FROM pg_stat_activity WHERE application_name = :'an' AND backend_type = 'client backend' GROUP BY datname ORDER BY 1;" | bg_pgs_sql "$shared" -v an="bg-$e") || exit 1
    [ -n "$held" ] || { echo "bg: PostgreSQL shows no connection of bg-$e (env $e's application_name)" >&2; exit 1; }
    other=$(printf '%s\n' "$held" | awk -v s="$shared" '{ n = $NF; sub(/ [0-9]+$/, ""); if ($0 != s) print $0 " (" n ")" }')
    [ -z "$other" ] || { echo "bg: bg-$e (env $e) still holds connections to $(printf '%s' "$other" | tr '\n' ' ')" >&2; exit 1; }
    echo "$e: bg-$e holds $(printf '%s\n' "$held" | awk '{ print $NF }') connection(s), all on $shared"
  done
}

# bg_pgs_verify_old TAIL: no connection of the envs' applications on their old databases; the old databases' rows unchanged since the copy.
bg_pgs_verify_old() {
  bg_pgs_envs "$@"; bg_pgs_lists
  for e in $envs; do
    db=$(db_of "$e")
    n=$(printf '%s\n' "SELECT count(*) FROM pg_stat_activity WHERE datname = :'d' AND application_name = ANY (string_to_array(:'an', chr(10)));" | bg_pgs_sql "$shared" -v d="$db" -v an="$bg_pgs_an") || exit 1
    [ "$n" = 0 ] || { echo "bg: $n connection(s) of the envs' applications on the old database $db: their writes would be lost" >&2; exit 1; }
    [ "$(bg_pg_counts "$bg_pc1" "$bg_pc2" "$db" "$bg_pc4" "$bg_pc5" "$bg_pc6")" = "$(cat "$sd/old-$e")" ] || { echo "bg: $db changed after the copy: something wrote to it" >&2; exit 1; }
  done
  echo "no application of the envs is connected to an old database; their rows are unchanged since the copy"
}

# bg_pgs_undo RUNID RELEASE_S WAIT_S TAIL: each env back on its own database (env file restored), SHARED kept renamed when used (or dropped), apps started again.
bg_pgs_undo() {
  runid=$1; bg_pgs_rel=$2; bg_pgs_wait=$3; shift 3; bg_pgs_envs "$@"; bg_pgs_msg=""
  [ -f "$sd/apps" ] || { echo "nothing to undo: share-db never started"; exit 0; }
  if [ -f "$sd/started" ] || [ -f "$sd/switched" ] || [ -f "$sd/freeze-start" ]; then
    for e in $envs; do pm2 stop "$(app_of "$e")" >/dev/null || exit 1; done
    # Only the apps' own connections: a session someone else left open must not block putting them back.
    bg_pgs_wait_released "$bg_pgs_rel" apps || exit 1
  fi
  for e in $envs; do
    [ ! -f "$sd/env-$e/env-state" ] || ( bg_env_undo "$sd/env-$e" "$(file_of "$e")" PGDATABASE ) || exit 1
  done
  if [ -f "$sd/created" ] && bg_pgs_exists "$shared"; then
    via=$(db_of "${envs%% *}")
    if [ -f "$sd/started" ]; then
      base=$(cat "$sd/base")
      now=$(bg_pg_counts "$bg_pc1" "$bg_pc2" "$shared" "$bg_pc4" "$bg_pc5" "$bg_pc6" | tr '\n' ' '); was=$(tr '\n' ' ' < "$sd/old-$base")
      # A name within PostgreSQL's 63 bytes: a prefix of SHARED, _rolled_back_, the run id's digits.
      kept="$(printf '%s' "$shared" | cut -c1-20)_rolled_back_$(printf '%s' "$runid" | tr -cd '0-9')"
      ! bg_pgs_exists "$kept" || kept="${kept}_$(date +%s)"
      printf '%s\n' "SELECT format('ALTER DATABASE %I RENAME TO %I', :'old', :'new') \\gexec" | bg_pgs_sql "$via" -v old="$shared" -v new="$kept" || exit 1
      bg_pgs_msg="the shared database is kept as $kept"
      [ "$now" = "$was" ] || echo "rows per table there: $now (at the copy: $was): rows written while shared are only in $kept"
    else
      printf '%s\n' "SELECT format('DROP DATABASE %I', :'old') \\gexec" | bg_pgs_sql "$via" -v old="$shared" || exit 1
      bg_pgs_msg="dropped $shared (no app had used it)"
    fi
  fi
  bg_pgs_start "$bg_pgs_wait" || exit 1
  for e in $envs; do grep -qx "$e online" "$sd/apps" && echo "$e: $(app_of "$e") online on $(db_of "$e")" || true; done
  # Last: the line bg shows.
  echo "each env on its own database again${bg_pgs_msg:+; $bg_pgs_msg}"
}

# bg_pgs_discard RUNID TABLE COLUMN TAIL: the rows written to SHARED while shared that the base's own database lacks.
bg_pgs_discard() {
  runid=$1; mt=$2; mc=$3; shift 3; bg_pgs_envs "$@"
  [ -f "$sd/started" ] && [ -f "$sd/base" ] || exit 0
  bg_pgs_exists "$shared" || exit 0
  base=$(cat "$sd/base")
  t=$(mktemp -d) || exit 1
  bg_pgs_rows "$(db_of "$base")" "$mt" "$mc" "$t/base" && bg_pgs_rows "$shared" "$mt" "$mc" "$t/shared" || { rm -rf "$t"; exit 1; }
  x=$(bg_pgs_extra "$t/base" "$t/shared"); rm -rf "$t"
  [ -z "$x" ] || echo "rows written to $shared while the envs shared it, not in $base's own database: $(printf '%s\n' "$x" | tr '\n' ',' | sed 's/,$//; s/,/, /g') (the shared database is kept renamed)"
}
