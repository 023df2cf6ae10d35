# shellcheck shell=sh
# db-inspect on PostgreSQL envs: each database's size, and per table its rows, size and newest write;
# which database holds rows another lacks (by content); the base share-db would take. Identifiers
# reach SQL only through psql variables and format('%I'), never as text built in the shell.

# bg_pgi_sql I [PSQL OPTION...]: bg_pg_sql on the connection of the I-th env that bg_pg_inspect stored (SQL on stdin).
bg_pgi_sql() {
  bg_pgi_i=$1; shift
  # Only the index (a number bg_pg_inspect counted) is part of the eval'd text; the values are referenced.
  eval "bg_pg_sql \"\$bg_pgi_${bg_pgi_i}_1\" \"\$bg_pgi_${bg_pgi_i}_2\" \"\$bg_pgi_${bg_pgi_i}_3\" \"\$bg_pgi_${bg_pgi_i}_4\" \"\$bg_pgi_${bg_pgi_i}_5\" \"\$bg_pgi_${bg_pgi_i}_6\" \"\$@\""
}

# bg_pgi_tables_sql: per user table, a query printing "table TAB rows TAB size TAB newest write" (psql runs each with \gexec).
bg_pgi_tables_sql() {
  cat <<'EOF'
SELECT format('SELECT %L, count(*), pg_total_relation_size(%L::regclass), %s FROM %I.%I', q, q, newest, nspname, relname)
FROM (
  SELECT n.nspname, c.relname, format('%I.%I', n.nspname, c.relname) AS q,
    coalesce(
      (SELECT format('%L || coalesce(max(%I)::text, %L)', 'max(' || a.attname || ') ', a.attname, '-') FROM pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.atttypid IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype)
           AND (a.attname ~* '(creat|updat|modif|chang|writ|insert)' OR a.attname ~* '_(at|on)$')
         ORDER BY a.attname ~* '(updat|modif|chang|writ)' DESC, a.attnum LIMIT 1),
      CASE WHEN current_setting('track_commit_timestamp') = 'on' THEN format('%L || coalesce(max(pg_xact_commit_timestamp(xmin))::text, %L)', 'last commit ', '-') END,
      (SELECT format('%L', format('no timestamp column: %s inserted, %s updated, %s deleted since the statistics were reset', s.n_tup_ins, s.n_tup_upd, s.n_tup_del)) FROM pg_stat_user_tables s WHERE s.relid = c.oid),
      quote_literal('-')) AS newest
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
    AND c.oid NOT IN (SELECT objid FROM pg_depend WHERE deptype = 'e')
) t ORDER BY nspname, relname \gexec
EOF
}

# bg_pgi_columns_sql: "schema TAB table TAB column" of every user table's column (names holding a control character left out: they could not be one field).
bg_pgi_columns_sql() {
  cat <<'EOF'
SELECT n.nspname || E'\t' || c.relname || E'\t' || a.attname
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
    AND c.oid NOT IN (SELECT objid FROM pg_depend WHERE deptype = 'e')
    AND n.nspname !~ '[[:cntrl:]]' AND c.relname !~ '[[:cntrl:]]' AND a.attname !~ '[[:cntrl:]]'
  ORDER BY 1;
EOF
}

# bg_pgi_hashes_sql: md5 of each row of :sch.:tbl over the columns in :cols (tab-separated), in one text form whatever the server's settings.
bg_pgi_hashes_sql() {
  cat <<'EOF'
SET TimeZone TO 'UTC'; SET DateStyle TO 'ISO, YMD'; SET IntervalStyle TO 'postgres'; SET extra_float_digits TO 3; SET bytea_output TO 'hex';
SELECT format('SELECT md5(ROW(%s)::text) FROM %I.%I', (SELECT string_agg(quote_ident(x), ', ' ORDER BY o) FROM unnest(string_to_array(:'cols', E'\t')) WITH ORDINALITY AS u(x, o)), :'sch', :'tbl') \gexec
EOF
}

# bg_pgi_count_sql: the row count of :sch.:tbl.
bg_pgi_count_sql() {
  cat <<'EOF'
SELECT format('SELECT count(*) FROM %I.%I', :'sch', :'tbl') \gexec
EOF
}

# shellcheck disable=SC2154 # bg_pr_name and bg_pr_db are set by eval
# bg_pgi_report I: env I's database: its size, then per table rows, size (with indexes and TOAST) and newest write.
bg_pgi_report() {
  eval "bg_pr_name=\$bg_pgi_name_$1 bg_pr_db=\$bg_pgi_${1}_3"
  bg_pr_size=$(printf 'SELECT pg_database_size(current_database())\n' | bg_pgi_sql "$1") || { echo "bg: $bg_pr_name: cannot read the size of database $bg_pr_db" >&2; return 1; }
  echo "$bg_pr_name: PostgreSQL database $bg_pr_db, $bg_pr_size bytes (pg_database_size)"
  bg_pr_t=$(bg_pgi_tables_sql | bg_pgi_sql "$1" -F "$(printf '\t')") || return 1
  [ -n "$bg_pr_t" ] || { echo "  no tables"; return 0; }
  printf '%s\n' "$bg_pr_t" | awk -F '\t' '{ printf "  %-28s %9s rows %12s bytes   newest %s\n", $1, $2, $3, $4 }'
}

# bg_pgi_extra C O TABLE COLUMN: "schema.table N" for every table of env O holding N rows env C lacks (by content over the columns both have; TABLE by COLUMN only).
bg_pgi_extra() {
  bg_px_d=$(mktemp -d) || return 1
  if ! bg_pgi_columns_sql | bg_pgi_sql "$1" > "$bg_px_d/c" || ! bg_pgi_columns_sql | bg_pgi_sql "$2" > "$bg_px_d/o"; then rm -rf "$bg_px_d"; return 1; fi
  bg_px_tab=$(printf '\t'); bg_px_rc=0
  cut -f 1,2 "$bg_px_d/o" | uniq > "$bg_px_d/tables"
  while IFS="$bg_px_tab" read -r bg_px_s bg_px_t; do
    # Names through ENVIRON, not awk -v (which would read their backslashes as escapes).
    bg_s=$bg_px_s bg_t=$bg_px_t awk -F '\t' '$1 == ENVIRON["bg_s"] && $2 == ENVIRON["bg_t"] { print $3 }' "$bg_px_d/o" | LC_ALL=C sort > "$bg_px_d/oc"
    bg_s=$bg_px_s bg_t=$bg_px_t awk -F '\t' '$1 == ENVIRON["bg_s"] && $2 == ENVIRON["bg_t"] { print $3 }' "$bg_px_d/c" | LC_ALL=C sort > "$bg_px_d/cc"
    # The migrations table is compared by its name column only (when and how a migration ran may differ).
    if [ "$bg_px_t" = "$3" ]; then printf '%s\n' "$4" | LC_ALL=C sort > "$bg_px_d/m"; LC_ALL=C comm -12 "$bg_px_d/oc" "$bg_px_d/m" > "$bg_px_d/oc2"; mv "$bg_px_d/oc2" "$bg_px_d/oc"; fi
    bg_px_cols=$(LC_ALL=C comm -12 "$bg_px_d/oc" "$bg_px_d/cc" | paste -s -d '\t' -)
    if [ -z "$bg_px_cols" ]; then
      # A table (or its columns) that C lacks: every row of O's table is one C lacks.
      bg_px_n=$(bg_pgi_count_sql | bg_pgi_sql "$2" -v sch="$bg_px_s" -v tbl="$bg_px_t") || { bg_px_rc=1; break; }
    else
      bg_pgi_hashes_sql | bg_pgi_sql "$2" -v sch="$bg_px_s" -v tbl="$bg_px_t" -v cols="$bg_px_cols" > "$bg_px_d/oh" || { bg_px_rc=1; break; }
      bg_pgi_hashes_sql | bg_pgi_sql "$1" -v sch="$bg_px_s" -v tbl="$bg_px_t" -v cols="$bg_px_cols" > "$bg_px_d/ch" || { bg_px_rc=1; break; }
      LC_ALL=C sort -u -o "$bg_px_d/oh" "$bg_px_d/oh"; LC_ALL=C sort -u -o "$bg_px_d/ch" "$bg_px_d/ch"
      bg_px_n=$(LC_ALL=C comm -23 "$bg_px_d/oh" "$bg_px_d/ch" | wc -l | tr -d ' ')
    fi
    [ "$bg_px_n" = 0 ] || echo "$bg_px_s.$bg_px_t $bg_px_n"
  done < "$bg_px_d/tables"
  rm -rf "$bg_px_d"
  return "$bg_px_rc"
}

# shellcheck disable=SC2154 # bg_pn_ci and bg_pn_oj are set by eval
# bg_pg_inspect BASE TABLE COLUMN [NAME CONN(6)]...: report each env's database, which holds every row of the others, and share-db's base (BASE auto: fail when none does).
bg_pg_inspect() {
  bg_pn_b=$1; bg_pn_t=$2; bg_pn_c=$3; shift 3; bg_pn_n=0
  while [ $# -ge 7 ]; do
    bg_pn_n=$((bg_pn_n + 1))
    eval "bg_pgi_name_$bg_pn_n=\$1 bg_pgi_${bg_pn_n}_1=\$2 bg_pgi_${bg_pn_n}_2=\$3 bg_pgi_${bg_pn_n}_3=\$4 bg_pgi_${bg_pn_n}_4=\$5 bg_pgi_${bg_pn_n}_5=\$6 bg_pgi_${bg_pn_n}_6=\$7"
    shift 7
  done
  bg_pn_i=1
  while [ "$bg_pn_i" -le "$bg_pn_n" ]; do bg_pgi_report "$bg_pn_i" || return 1; bg_pn_i=$((bg_pn_i + 1)); done
  # Like bg_pick_base (db.sh): the first env holding every row of each other is the base.
  bg_pn_base=''; bg_pn_rows=''; bg_pn_i=1
  while [ "$bg_pn_i" -le "$bg_pn_n" ]; do
    eval "bg_pn_ci=\$bg_pgi_name_$bg_pn_i"; bg_pn_ok=1; bg_pn_j=1
    while [ "$bg_pn_j" -le "$bg_pn_n" ]; do
      if [ "$bg_pn_j" != "$bg_pn_i" ]; then
        eval "bg_pn_oj=\$bg_pgi_name_$bg_pn_j"
        bg_pn_x=$(bg_pgi_extra "$bg_pn_i" "$bg_pn_j" "$bg_pn_t" "$bg_pn_c") || { echo "bg: could not compare the rows of $bg_pn_oj with $bg_pn_ci" >&2; return 1; }
        if [ -n "$bg_pn_x" ]; then bg_pn_ok=0; bg_pn_l="rows in $bg_pn_oj that $bg_pn_ci lacks: $(printf '%s\n' "$bg_pn_x" | tr '\n' ',' | sed 's/,$//; s/,/, /g')"
        else bg_pn_l="$bg_pn_ci holds every row of $bg_pn_oj"; fi
        bg_pn_rows="${bg_pn_rows:+$bg_pn_rows
}$bg_pn_l"
      fi
      bg_pn_j=$((bg_pn_j + 1))
    done
    [ "$bg_pn_ok" = 0 ] || [ -n "$bg_pn_base" ] || bg_pn_base=$bg_pn_ci
    bg_pn_i=$((bg_pn_i + 1))
  done
  printf '%s\n' "$bg_pn_rows"
  # PostgreSQL's share-db keeps the old databases as they are: no .OLD files to name.
  bg_base_report "$bg_pn_b" "$bg_pn_base" "$bg_pn_rows"
}
