// Shell functions for SQLite that actions prepend to their scripts. They rely on the sqlite3 CLI
// only, which the host needs anyway (the pre-flight checks for it).
import { shFn, shLib } from './sh-lib.js';

/**
 * `bg_sql DB SQL...`: sqlite3 that waits for the write lock instead of failing at once. sqlite3
 * takes no `--`: a DB path starting with `-` is made `./-…` so that it is never an option.
 */
export const BG_SQL = shFn('bg_sql', `bg_sql() { bg_d=$1; shift; case $bg_d in -*) bg_d=./$bg_d ;; esac; sqlite3 -bail -batch -cmd '.timeout 10000' "$bg_d" "$@"; }`);

/** `bg_sqlq TEXT`: TEXT as an SQL string literal. */
export const BG_SQLQ = shFn('bg_sqlq', `bg_sqlq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"; }`);

/** `bg_dotq TEXT`: TEXT as one argument of a sqlite3 dot-command ("…" with \\ and " escaped). */
export const BG_DOTQ = shFn('bg_dotq', `bg_dotq() { printf '"%s"' "$(printf '%s' "$1" | sed 's/[\\\\"]/\\\\&/g')"; }`);

/** `bg_counts DB`: "table|rows" per user table, sorted, read in one statement (one snapshot). */
export const BG_COUNTS = shFn(
  'bg_counts',
  `bg_counts() { bg_q=$(bg_sql "$1" "SELECT group_concat(printf('SELECT %Q, count(*) FROM \\"%w\\"', name, name), ' UNION ALL ') FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'") || return 1; [ -z "$bg_q" ] || bg_sql "$1" "$bg_q ORDER BY 1"; }`,
  [BG_SQL],
);

/** `bg_counts_q DB`: the one statement that reads "table|rows" of every user table (empty: no tables). */
export const BG_COUNTS_Q = shFn(
  'bg_counts_q',
  `bg_counts_q() { bg_sql "$1" "SELECT group_concat(printf('SELECT %Q, count(*) FROM \\"%w\\"', name, name), ' UNION ALL ') FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"; }`,
  [BG_SQL],
);

/**
 * `bg_snapshot_copy SRC DST`: copy SRC to DST with the online backup API inside one read
 * transaction, and print SRC's "table|rows" read in that same transaction. The snapshot does not
 * move, so the copy never restarts (a plain `.backup` restarts on every outside write and may
 * never finish under load), writers are not blocked (WAL), and the counts are exactly the copy's.
 */
export const BG_SNAPSHOT_COPY = shFn(
  'bg_snapshot_copy',
  `bg_snapshot_copy() { bg_q=$(bg_counts_q "$1") || return 1; bg_sql "$1" "BEGIN; \${bg_q:-SELECT 1 WHERE 0} ORDER BY 1;" ".backup $(bg_dotq "$2")" "COMMIT;"; }`,
  [BG_COUNTS_Q, BG_DOTQ],
);

/**
 * `bg_extra A B [MIGRATIONS_TABLE [COLUMN]]`: "table|rows" for every table of B holding rows
 * that A lacks (nothing when A holds every row of B). Rows are compared by content, over the
 * columns both databases have, so an id present in both with different values counts as
 * missing; a table only B has counts all its rows. The migrations table is compared by its
 * name column only (applied_at differs between environments by nature).
 */
export const BG_EXTRA = shFn(
  'bg_extra',
  [
    'bg_extra() {',
    '  bg_att="ATTACH $(bg_sqlq "$2") AS bg_o;"',
    `  bg_q=$(bg_sql "$1" "$bg_att SELECT group_concat(CASE WHEN x.cols IS NULL THEN printf('SELECT %Q AS t, count(*) AS n FROM bg_o.\\"%w\\"', x.name, x.name) ELSE printf('SELECT %Q AS t, count(*) AS n FROM (SELECT %s FROM bg_o.\\"%w\\" EXCEPT SELECT %s FROM main.\\"%w\\")', x.name, x.cols, x.name, x.cols, x.name) END, ' UNION ALL ') FROM (SELECT o.name, (SELECT group_concat(printf('\\"%w\\"', c.name), ', ') FROM pragma_table_info(o.name, 'bg_o') c WHERE c.name IN (SELECT m.name FROM pragma_table_info(o.name, 'main') m) AND (o.name <> $(bg_sqlq "\${3:-migrations}") OR c.name = $(bg_sqlq "\${4:-name}"))) AS cols FROM bg_o.sqlite_master o WHERE o.type = 'table' AND o.name NOT LIKE 'sqlite\\_%' ESCAPE '\\\\' ORDER BY o.name) x") || return 1`,
    `  [ -z "$bg_q" ] || bg_sql "$1" "$bg_att SELECT t, n FROM ($bg_q) WHERE n > 0 ORDER BY t"`,
    '}',
  ].join('\n'),
  [BG_SQL, BG_SQLQ],
);

/** Every function the backup action uses (kept as one block for it). */
export const SQLITE_FUNCTIONS = shLib(BG_SQL, BG_SQLQ, BG_COUNTS);

/**
 * `bg_sqlite_version`: sets `bg_sv_path` (where sqlite3 is), `bg_sv` (its version, e.g. 3.40.1)
 * and `bg_sv_num` (major*1000000 + minor*1000 + patch, to compare with -ge); returns 1 with
 * bg_sv_path empty when there is no sqlite3, 2 when its --version output has no version. The
 * output is checked to be digits before any arithmetic: `$((…))` would evaluate other text.
 */
export const BG_SQLITE_VERSION = shFn(
  'bg_sqlite_version',
  [
    'bg_sqlite_version() {',
    "  bg_sv=''; bg_sv_num=''; bg_sv_path=$(command -v sqlite3) || { bg_sv_path=''; return 1; }",
    '  bg_sv_out=$(sqlite3 --version 2>&1 </dev/null | head -n 1)',
    '  bg_sv=${bg_sv_out%%[!0-9.]*}',
    '  case $bg_sv in *.*) ;; *) return 2 ;; esac',
    '  bg_sv_a=${bg_sv%%.*}; bg_sv_r=${bg_sv#*.}; bg_sv_b=${bg_sv_r%%.*}; bg_sv_c=0',
    '  case $bg_sv_r in *.*) bg_sv_c=${bg_sv_r#*.}; bg_sv_c=${bg_sv_c%%.*} ;; esac',
    "  for bg_sv_n in \"$bg_sv_a\" \"$bg_sv_b\" \"$bg_sv_c\"; do case $bg_sv_n in ''|*[!0-9]*|?????*) return 2 ;; esac; done",
    // Leading zeros would make the shell read octal.
    '  bg_sv_a=${bg_sv_a#"${bg_sv_a%%[!0]*}"}; bg_sv_b=${bg_sv_b#"${bg_sv_b%%[!0]*}"}; bg_sv_c=${bg_sv_c#"${bg_sv_c%%[!0]*}"}',
    '  bg_sv_num=$(( ${bg_sv_a:-0} * 1000000 + ${bg_sv_b:-0} * 1000 + ${bg_sv_c:-0} ))',
    '}',
  ].join('\n'),
);
