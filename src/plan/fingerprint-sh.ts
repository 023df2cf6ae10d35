// Schema fingerprints from SQLite's catalog, not from `.schema | md5sum` (which changes with
// creation order, quoting left by table rebuilds, and ANALYZE: see NOTES.md). The description
// is one line per fact, sorted bytewise, so two databases can be compared line by line and the
// difference printed readably.
import { BG_SQL, BG_SQLQ } from './sqlite-sh.js';
import { shFn } from './sh-lib.js';

/** Newlines and tabs inside SQL text (views, triggers, defaults) become spaces. */
const oneLine = (x: string) => `replace(replace(replace(${x}, char(13), ' '), char(10), ' '), char(9), ' ')`;

/**
 * The catalog, one line per fact:
 *   table T [autoincrement] [checks N]
 *   column T.C #position TYPE [not null] [default EXPR] [primary key #N]
 *   index NAME|<u>|<pk> on T [unique] (col [desc] [collate X], …) [where …]
 *   foreign key T(cols) references P(cols) on update … on delete … match …
 *   view V: SQL        trigger TR on T: SQL
 * CHECK constraints are not in the catalog pragmas: they are counted from the table's SQL.
 */
export const SCHEMA_SQL = [
  `WITH o AS (SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'),`,
  `t AS (SELECT name, upper(coalesce(sql, '')) AS u FROM o WHERE type = 'table')`,
  `SELECT 'table ' || t.name || CASE WHEN instr(t.u, 'AUTOINCREMENT') THEN ' autoincrement' ELSE '' END || CASE WHEN instr(t.u, 'CHECK') THEN ' checks ' || ((length(t.u) - length(replace(t.u, 'CHECK', ''))) / 5) ELSE '' END FROM t`,
  `UNION ALL`,
  `SELECT printf('column %s.%s #%d%s%s%s%s', t.name, c.name, c.cid, CASE WHEN c.type <> '' THEN ' ' || upper(c.type) ELSE '' END, CASE WHEN c."notnull" THEN ' not null' ELSE '' END, CASE WHEN c.dflt_value IS NULL THEN '' ELSE ' default ' || ${oneLine('c.dflt_value')} END, CASE WHEN c.pk THEN ' primary key #' || c.pk ELSE '' END) FROM t, pragma_table_info(t.name) c`,
  `UNION ALL`,
  `SELECT printf('index %s on %s%s (%s)%s', CASE WHEN il.origin = 'c' THEN il.name ELSE '<' || il.origin || '>' END, t.name, CASE WHEN il."unique" THEN ' unique' ELSE '' END, (SELECT group_concat(k, ', ') FROM (SELECT coalesce(x.name, '<expression>') || CASE WHEN x."desc" THEN ' desc' ELSE '' END || CASE WHEN x.coll <> 'BINARY' THEN ' collate ' || x.coll ELSE '' END AS k FROM pragma_index_xinfo(il.name) x WHERE x."key" ORDER BY x.seqno)), CASE WHEN il.partial THEN ' where ' || (SELECT ${oneLine(`substr(o.sql, instr(upper(o.sql), 'WHERE') + 6)`)} FROM o WHERE o.name = il.name) ELSE '' END) FROM t, pragma_index_list(t.name) il`,
  `UNION ALL`,
  `SELECT printf('foreign key %s(%s) references %s(%s) on update %s on delete %s match %s', f.tname, group_concat(f."from", ', '), f."table", group_concat(coalesce(f."to", '<primary key>'), ', '), f.on_update, f.on_delete, f."match") FROM (SELECT t.name AS tname, k.* FROM t, pragma_foreign_key_list(t.name) k ORDER BY t.name, k.id, k.seq) f GROUP BY f.tname, f.id`,
  `UNION ALL`,
  `SELECT CASE WHEN type = 'view' THEN 'view ' || name ELSE 'trigger ' || name || ' on ' || tbl_name END || ': ' || ${oneLine('sql')} FROM o WHERE type IN ('view', 'trigger')`,
].join('\n');

/**
 * `bg_schema DB [MIGRATIONS_TABLE [COLUMN]]`: the normalised description of DB's schema plus
 * one `migration NAME` line per applied migration (default table `migrations`, column `name`),
 * sorted bytewise, spaces squeezed.
 */
export const BG_SCHEMA = shFn(
  'bg_schema',
  [
    `BG_SCHEMA_SQL=${shellSingle(SCHEMA_SQL)}`,
    `bg_schema() {`,
    `  [ -f "$1" ] || { echo "bg: database $1 does not exist" >&2; return 1; }`,
    `  bg_mt=\${2:-migrations}; bg_mc=\${3:-name}`,
    `  bg_s=$(bg_sql "$1" "$BG_SCHEMA_SQL") || return 1`,
    `  bg_has=$(bg_sql "$1" "SELECT count(*) FROM sqlite_master m, pragma_table_info(m.name) c WHERE m.type = 'table' AND m.name = $(bg_sqlq "$bg_mt") AND c.name = $(bg_sqlq "$bg_mc")") || return 1`,
    `  if [ "$bg_has" = 1 ]; then`,
    `    bg_m=$(bg_sql "$1" "SELECT 'migration ' || replace(replace(\\"$(printf '%s' "$bg_mc" | sed 's/"/""/g')\\", char(10), ' '), char(13), ' ') FROM \\"$(printf '%s' "$bg_mt" | sed 's/"/""/g')\\" WHERE \\"$(printf '%s' "$bg_mc" | sed 's/"/""/g')\\" IS NOT NULL") || return 1`,
    `  else`,
    `    bg_m="migrations: no table $bg_mt with a column $bg_mc"`,
    `  fi`,
    `  printf '%s\\n%s\\n' "$bg_s" "$bg_m" | tr -s ' ' | grep -v '^$' | LC_ALL=C sort`,
    `}`,
  ].join('\n'),
  [BG_SQL, BG_SQLQ],
);

/**
 * `bg_schema_compare LABEL_A DB_A LABEL_B DB_B [MIGRATIONS_TABLE [COLUMN]]`: 0 when both
 * descriptions are equal (prints the fingerprint), 1 when they differ (a readable list of the
 * differing lines on stderr, at most 8 of them, then both fingerprints), 2 on error.
 */
export const BG_SCHEMA_COMPARE = shFn(
  'bg_schema_compare',
  [
    `bg_fingerprint() { printf '%s\\n' "$1" | sha256sum | cut -c1-16; }`,
    `bg_schema_compare() {`,
    `  bg_da=$(bg_schema "$2" "$5" "$6") || return 2`,
    `  bg_db=$(bg_schema "$4" "$5" "$6") || return 2`,
    `  bg_fa=$(bg_fingerprint "$bg_da"); bg_fb=$(bg_fingerprint "$bg_db")`,
    `  if [ "$bg_da" = "$bg_db" ]; then echo "$1 and $3: same schema and migrations (fingerprint sha256:$bg_fa, $(printf '%s\\n' "$bg_da" | grep -c '^table ') tables, $(printf '%s\\n' "$bg_da" | grep -c '^migration ') migrations)"; return 0; fi`,
    `  bg_tmp=$(mktemp -d) || return 2`,
    `  printf '%s\\n' "$bg_da" > "$bg_tmp/a"; printf '%s\\n' "$bg_db" > "$bg_tmp/b"`,
    // Labels are data: printf, never spliced into a sed script.
    `  { LC_ALL=C comm -23 "$bg_tmp/a" "$bg_tmp/b" | while IFS= read -r bg_l; do printf 'only in %s: %s\\n' "$1" "$bg_l"; done; LC_ALL=C comm -13 "$bg_tmp/a" "$bg_tmp/b" | while IFS= read -r bg_l; do printf 'only in %s: %s\\n' "$3" "$bg_l"; done; } > "$bg_tmp/d"`,
    `  bg_nd=$(wc -l < "$bg_tmp/d" | tr -d ' ')`,
    `  cat "$bg_tmp/d"`,
    `  {`,
    `    echo "bg: the schemas of $1 and $3 differ ($bg_nd line(s)):"`,
    `    head -n 8 "$bg_tmp/d" | sed 's/^/  /'`,
    `    [ "$bg_nd" -le 8 ] || echo "  … and $((bg_nd - 8)) more (the full list is on stdout: bg run --json shows it)"`,
    `    echo "  $1 $2: sha256:$bg_fa"`,
    `    echo "  $3 $4: sha256:$bg_fb"`,
    `  } >&2`,
    `  rm -rf "$bg_tmp"`,
    `  return 1`,
    `}`,
  ].join('\n'),
  [BG_SCHEMA],
);

/** A string as one single-quoted shell word (no `$HOME` handling: not a path). */
function shellSingle(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
