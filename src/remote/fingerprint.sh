# shellcheck shell=sh
# Schema fingerprints from SQLite's catalog (not `.schema | md5sum`, which changes with creation order: see NOTES.md).

# bg_schema DB [MIGRATIONS_TABLE [COLUMN]]: the normalised schema of DB and its applied migrations, one fact a line, sorted.
# shellcheck disable=SC1003 # SQL text inside one single-quoted word
BG_SCHEMA_SQL='WITH o AS (SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE '\''sqlite\_%'\'' ESCAPE '\''\'\''),
t AS (SELECT name, upper(coalesce(sql, '\'''\'')) AS u FROM o WHERE type = '\''table'\'')
SELECT '\''table '\'' || t.name || CASE WHEN instr(t.u, '\''AUTOINCREMENT'\'') THEN '\'' autoincrement'\'' ELSE '\'''\'' END || CASE WHEN instr(t.u, '\''CHECK'\'') THEN '\'' checks '\'' || ((length(t.u) - length(replace(t.u, '\''CHECK'\'', '\'''\''))) / 5) ELSE '\'''\'' END FROM t
UNION ALL
SELECT printf('\''column %s.%s #%d%s%s%s%s'\'', t.name, c.name, c.cid, CASE WHEN c.type <> '\'''\'' THEN '\'' '\'' || upper(c.type) ELSE '\'''\'' END, CASE WHEN c."notnull" THEN '\'' not null'\'' ELSE '\'''\'' END, CASE WHEN c.dflt_value IS NULL THEN '\'''\'' ELSE '\'' default '\'' || replace(replace(replace(c.dflt_value, char(13), '\'' '\''), char(10), '\'' '\''), char(9), '\'' '\'') END, CASE WHEN c.pk THEN '\'' primary key #'\'' || c.pk ELSE '\'''\'' END) FROM t, pragma_table_info(t.name) c
UNION ALL
SELECT printf('\''index %s on %s%s (%s)%s'\'', CASE WHEN il.origin = '\''c'\'' THEN il.name ELSE '\''<'\'' || il.origin || '\''>'\'' END, t.name, CASE WHEN il."unique" THEN '\'' unique'\'' ELSE '\'''\'' END, (SELECT group_concat(k, '\'', '\'') FROM (SELECT coalesce(x.name, '\''<expression>'\'') || CASE WHEN x."desc" THEN '\'' desc'\'' ELSE '\'''\'' END || CASE WHEN x.coll <> '\''BINARY'\'' THEN '\'' collate '\'' || x.coll ELSE '\'''\'' END AS k FROM pragma_index_xinfo(il.name) x WHERE x."key" ORDER BY x.seqno)), CASE WHEN il.partial THEN '\'' where '\'' || (SELECT replace(replace(replace(substr(o.sql, instr(upper(o.sql), '\''WHERE'\'') + 6), char(13), '\'' '\''), char(10), '\'' '\''), char(9), '\'' '\'') FROM o WHERE o.name = il.name) ELSE '\'''\'' END) FROM t, pragma_index_list(t.name) il
UNION ALL
SELECT printf('\''foreign key %s(%s) references %s(%s) on update %s on delete %s match %s'\'', f.tname, group_concat(f."from", '\'', '\''), f."table", group_concat(coalesce(f."to", '\''<primary key>'\''), '\'', '\''), f.on_update, f.on_delete, f."match") FROM (SELECT t.name AS tname, k.* FROM t, pragma_foreign_key_list(t.name) k ORDER BY t.name, k.id, k.seq) f GROUP BY f.tname, f.id
UNION ALL
SELECT CASE WHEN type = '\''view'\'' THEN '\''view '\'' || name ELSE '\''trigger '\'' || name || '\'' on '\'' || tbl_name END || '\'': '\'' || replace(replace(replace(sql, char(13), '\'' '\''), char(10), '\'' '\''), char(9), '\'' '\'') FROM o WHERE type IN ('\''view'\'', '\''trigger'\'')'
bg_schema() {
  [ -f "$1" ] || { echo "bg: database $1 does not exist" >&2; return 1; }
  bg_mt=${2:-migrations}; bg_mc=${3:-name}
  bg_s=$(bg_sql "$1" "$BG_SCHEMA_SQL") || return 1
  bg_has=$(bg_sql "$1" "SELECT count(*) FROM sqlite_master m, pragma_table_info(m.name) c WHERE m.type = 'table' AND m.name = $(bg_sqlq "$bg_mt") AND c.name = $(bg_sqlq "$bg_mc")") || return 1
  if [ "$bg_has" = 1 ]; then
    bg_m=$(bg_sql "$1" "SELECT 'migration ' || replace(replace(\"$(printf '%s' "$bg_mc" | sed 's/"/""/g')\", char(10), ' '), char(13), ' ') FROM \"$(printf '%s' "$bg_mt" | sed 's/"/""/g')\" WHERE \"$(printf '%s' "$bg_mc" | sed 's/"/""/g')\" IS NOT NULL") || return 1
  else
    bg_m="migrations: no table $bg_mt with a column $bg_mc"
  fi
  printf '%s\n%s\n' "$bg_s" "$bg_m" | tr -s ' ' | grep -v '^$' | LC_ALL=C sort
}

# bg_fingerprint TEXT: the first 16 hex digits of TEXT's sha256 (what bg shows as a schema fingerprint).
bg_fingerprint() { printf '%s\n' "$1" | sha256sum | cut -c1-16; }

# bg_schema_compare LABEL_A DB_A LABEL_B DB_B [TABLE [COLUMN]]: 0 same schema (prints the fingerprint), 1 differ (lists why), 2 error.
bg_schema_compare() {
  bg_da=$(bg_schema "$2" "$5" "$6") || return 2
  bg_db=$(bg_schema "$4" "$5" "$6") || return 2
  bg_schema_text_compare "$1" "$bg_da" "$3" "$bg_db" "$2" "$4"
}

# bg_schema_text_compare LABEL_A TEXT_A LABEL_B TEXT_B [WHERE_A WHERE_B]: compare two schema texts (SQLite's or PostgreSQL's): 0 same (prints the fingerprint), 1 differ (the differing lines on stdout, a summary naming WHERE on stderr), 2 error.
bg_schema_text_compare() {
  bg_fa=$(bg_fingerprint "$2"); bg_fb=$(bg_fingerprint "$4")
  if [ "$2" = "$4" ]; then echo "$1 and $3: same schema and migrations (fingerprint sha256:$bg_fa, $(printf '%s\n' "$2" | grep -c '^table ') tables, $(printf '%s\n' "$2" | grep -c '^migration ') migrations)"; return 0; fi
  bg_tmp=$(mktemp -d) || return 2
  printf '%s\n' "$2" > "$bg_tmp/a"; printf '%s\n' "$4" > "$bg_tmp/b"
  { LC_ALL=C comm -23 "$bg_tmp/a" "$bg_tmp/b" | while IFS= read -r bg_l; do printf 'only in %s: %s\n' "$1" "$bg_l"; done; LC_ALL=C comm -13 "$bg_tmp/a" "$bg_tmp/b" | while IFS= read -r bg_l; do printf 'only in %s: %s\n' "$3" "$bg_l"; done; } > "$bg_tmp/d"
  bg_nd=$(wc -l < "$bg_tmp/d" | tr -d ' ')
  cat "$bg_tmp/d"
  {
    echo "bg: the schemas of $1 and $3 differ ($bg_nd line(s)):"
    head -n 8 "$bg_tmp/d" | sed 's/^/  /'
    [ "$bg_nd" -le 8 ] || echo "  … and $((bg_nd - 8)) more (the full list is on stdout: bg run --json shows it)"
    echo "  $1${5:+ $5}: sha256:$bg_fa"
    echo "  $3${6:+ $6}: sha256:$bg_fb"
  } >&2
  rm -rf "$bg_tmp"
  return 1
}

# bg_schema_check TABLE COLUMN NAME DB NAME DB...: compare the first env's schema with each other's; 1 when one differs or cannot be read.
bg_schema_check() {
  bg_sk_t=$1; bg_sk_c=$2; bg_sk_l=$3; bg_sk_d=$4; shift 4; bg_sk_rc=0
  while [ $# -ge 2 ]; do
    bg_schema_compare "$bg_sk_l" "$bg_sk_d" "$1" "$2" "$bg_sk_t" "$bg_sk_c"; bg_sk_r=$?
    [ "$bg_sk_r" -eq 0 ] || bg_sk_rc=1
    [ "$bg_sk_r" -ne 2 ] || echo "bg: could not read the schema of $bg_sk_l or $1" >&2
    shift 2
  done
  return "$bg_sk_rc"
}
