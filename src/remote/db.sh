# shellcheck shell=sh
# Comparing and reporting the databases of several envs; marking backups verified.

# bg_pick_base TABLE COLUMN: sets bg_base to the first env of $envs whose database holds every row of the others (needs envs, db_of).
# shellcheck disable=SC2154 # envs and db_of come from the caller's env table
bg_pick_base() {
  bg_base=''
  for bg_c in $envs; do
    bg_ok=1
    for bg_o in $envs; do
      [ "$bg_o" != "$bg_c" ] || continue
      bg_x=$(bg_extra "$(db_of "$bg_c")" "$(db_of "$bg_o")" "$1" "$2") || return 1
      if [ -n "$bg_x" ]; then bg_ok=0; echo "rows in $bg_o that $bg_c lacks: $(printf '%s\n' "$bg_x" | sed 's/|/ /' | tr '\n' ',' | sed 's/,$//; s/,/, /g')"; else echo "$bg_c holds every row of $bg_o"; fi
    done
    [ "$bg_ok" = 0 ] || [ -n "$bg_base" ] || bg_base=$bg_c
  done
}

# bg_report_db LABEL DB: path, size, journal mode, and per table rows and newest write.
# shellcheck disable=SC1003 # SQL text inside one single-quoted word
BG_TABLES_SQL='SELECT group_concat(printf('\''SELECT %Q, count(*), %s, %s FROM "%w"'\'', m.name, CASE WHEN upper(m.sql) LIKE '\''%WITHOUT%ROWID%'\'' THEN '\''NULL'\'' ELSE '\''max(rowid)'\'' END, coalesce((SELECT printf('\''%Q || '\'''\'' '\'''\'' || coalesce(max("%w"), '\'''\''-'\'''\'')'\'', c.name, c.name) FROM pragma_table_info(m.name) c WHERE c.name LIKE '\''%created%'\'' OR c.name LIKE '\''%updated%'\'' OR c.name LIKE '\''%\_at'\'' ESCAPE '\''\'\'' ORDER BY c.name LIKE '\''%updated%'\'' DESC, c.cid LIMIT 1), '\''NULL'\''), m.name), '\'' UNION ALL '\'') FROM sqlite_master m WHERE m.type = '\''table'\'' AND m.name NOT LIKE '\''sqlite\_%'\'' ESCAPE '\''\'\'''
bg_report_db() {
  [ -f "$2" ] || { echo "bg: $1: database $2 does not exist" >&2; return 1; }
  bg_real=$(readlink -f "$2")
  if [ "$bg_real" = "$2" ]; then echo "$1: $2"; else echo "$1: $2 -> $bg_real"; fi
  bg_wal=0; [ ! -f "$bg_real-wal" ] || bg_wal=$(wc -c < "$bg_real-wal" | tr -d ' ')
  echo "  $(wc -c < "$bg_real" | tr -d ' ') bytes + $bg_wal bytes of WAL, journal mode $(bg_sql "$bg_real" 'PRAGMA journal_mode')"
  bg_q=$(bg_sql "$bg_real" "$BG_TABLES_SQL") || return 1
  [ -n "$bg_q" ] || { echo "  no tables"; return 0; }
  bg_sql "$bg_real" '.separator "\t"' "$bg_q ORDER BY 1" | awk -F '\t' '{ printf "  %-28s %9s rows   newest rowid %-8s %s\n", $1, $2, ($3 == "" ? "-" : $3), $4 }'
}

# bg_write_file FILE: standard input into FILE through a new temp file and a rename: a link at FILE is replaced, never followed.
bg_write_file() {
  bg_wt=$(mktemp -- "$1.XXXXXX") || return 1
  if cat > "$bg_wt" && mv -f -- "$bg_wt" "$1"; then return 0; fi
  rm -f -- "$bg_wt"
  return 1
}

# bg_mark_verified FILE RESULT: record a backup's last verification (UTC time and result) in FILE.verified.
bg_mark_verified() { printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$2" | bg_write_file "$1.verified" 2>/dev/null || true; }

# bg_restore_leftover APP REAL SWAPPED BAK: after a restore stopped half-way, start APP again if a database is in place at REAL; else say it stays stopped.
bg_restore_leftover() {
  if [ -f "$2" ]; then
    if pm2 start "$1" >/dev/null 2>&1; then
      if [ -n "$3" ]; then echo "bg: the restore stopped after the backup was put in place; started $1 again on the restored database" >&2
      else echo "bg: the restore stopped before the database was replaced; started $1 again on it, unchanged" >&2; fi
      return 0
    fi
    echo "bg: the restore stopped half-way and pm2 start $1 failed: $1 is left stopped" >&2
    return 0
  fi
  echo "bg: $1 is left stopped (the restore did not finish; $2 is missing: put $4 in place before starting it)" >&2
}

# bg_db_inspect BASE TABLE COLUMN NAME DB APP...: report each env's database and which env holds every row of the others (BASE auto: fail when none does).
bg_db_inspect() {
  bg_ib=$1; bg_it=$2; bg_ic=$3; shift 3
  bg_envs "$@"
  for bg_ie in $envs; do bg_report_db "$bg_ie" "$(db_of "$bg_ie")" || return 1; done
  # Through a file, not $(…): bg_pick_base sets bg_base, which a subshell would lose.
  bg_itmp=$(mktemp) || return 1
  bg_pick_base "$bg_it" "$bg_ic" > "$bg_itmp" || { rm -f "$bg_itmp"; return 1; }
  bg_irows=$(cat "$bg_itmp"); rm -f "$bg_itmp"
  printf '%s\n' "$bg_irows"
  bg_base_report "$bg_ib" "$bg_base" "$bg_irows" '.OLD files'
}

# bg_base_report GIVEN FOUND ROWS [KEPT]: db-inspect's last line: the base share-db takes (GIVEN auto: FOUND; 1 when none holds every row), or the given one and the rows it lacks (KEPT: where those rows stay).
bg_base_report() {
  if [ "$1" = auto ]; then
    if [ -z "$2" ]; then
      { echo "bg: each database holds rows another lacks, so share-db will not choose a base:"; printf '%s\n' "$3" | grep '^rows in ' | sed 's/^/  /'; echo "  give one (share-db with.base, or --var base=ENV for phase2)${4:+; the rows only the others hold then stay in their $4}"; } >&2
      return 1
    fi
    echo "base for share-db: $2 (holds every row of the others)"
  else
    bg_br_kept=''; [ -z "${4:-}" ] || bg_br_kept=" stay in the others' $4"
    bg_br_lost=$(printf '%s\n' "$3" | grep "^rows in .* that $1 lacks:" | sed 's/^rows in \(.*\) that .* lacks: /\1: /' | tr '\n' ';' | sed 's/;$//; s/;/; /g' || true)
    if [ -z "$bg_br_lost" ]; then echo "base for share-db: $1 (given; holds every row of the others)"; else echo "base for share-db: $1 (given); rows it lacks$bg_br_kept: $bg_br_lost"; fi
  fi
}
