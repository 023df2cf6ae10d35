// Shell functions that actions prepend to their scripts. They rely on the sqlite3 CLI only,
// which the host needs anyway (the pre-flight checks for it).

/** `bg_sql DB SQL`: sqlite3 that waits for the write lock instead of failing at once. */
const SQL = `bg_sql() { sqlite3 -bail -batch -cmd '.timeout 10000' "$@"; }`;

/** `bg_sqlq TEXT`: TEXT as an SQL string literal. */
const SQLQ = `bg_sqlq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"; }`;

/** `bg_counts DB`: "table|rows" per user table, sorted, read in one statement (one snapshot). */
const COUNTS = `bg_counts() { bg_q=$(bg_sql "$1" "SELECT group_concat(printf('SELECT %Q, count(*) FROM \\"%w\\"', name, name), ' UNION ALL ') FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'") || return 1; [ -z "$bg_q" ] || bg_sql "$1" "$bg_q ORDER BY 1"; }`;

export const SQLITE_FUNCTIONS = [SQL, SQLQ, COUNTS].join('\n');
