# shellcheck shell=sh
# SQLite through the sqlite3 CLI only (which the pre-flight checks for): queries, quoting, counts, copies.

# bg_sql DB SQL...: sqlite3 that waits for the write lock; a DB path starting with - becomes ./-… (sqlite3 takes no --).
bg_sql() { bg_d=$1; shift; case $bg_d in -*) bg_d=./$bg_d ;; esac; sqlite3 -bail -batch -cmd '.timeout 10000' "$bg_d" "$@"; }

# bg_sqlq TEXT: TEXT as an SQL string literal.
bg_sqlq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"; }

# bg_dotq TEXT: TEXT as one argument of a sqlite3 dot-command ("…" with \ and " escaped).
bg_dotq() { printf '"%s"' "$(printf '%s' "$1" | sed 's/[\\"]/\\&/g')"; }

# bg_counts DB: "table|rows" per user table, sorted, read in one statement (one snapshot).
bg_counts() { bg_q=$(bg_sql "$1" "SELECT group_concat(printf('SELECT %Q, count(*) FROM \"%w\"', name, name), ' UNION ALL ') FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'") || return 1; [ -z "$bg_q" ] || bg_sql "$1" "$bg_q ORDER BY 1"; }

# bg_counts_q DB: the one statement that reads "table|rows" of every user table (empty: no tables).
bg_counts_q() { bg_sql "$1" "SELECT group_concat(printf('SELECT %Q, count(*) FROM \"%w\"', name, name), ' UNION ALL ') FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"; }

# bg_snapshot_copy SRC DST: online-backup SRC to DST inside one read transaction, printing the counts of that snapshot.
bg_snapshot_copy() { bg_q=$(bg_counts_q "$1") || return 1; bg_sql "$1" "BEGIN; ${bg_q:-SELECT 1 WHERE 0} ORDER BY 1;" ".backup $(bg_dotq "$2")" "COMMIT;"; }

# bg_extra A B [MIGRATIONS_TABLE [COLUMN]]: "table|rows" of every table of B holding rows A lacks (by content; migrations by name only).
bg_extra() {
  bg_att="ATTACH $(bg_sqlq "$2") AS bg_o;"
  bg_q=$(bg_sql "$1" "$bg_att SELECT group_concat(CASE WHEN x.cols IS NULL THEN printf('SELECT %Q AS t, count(*) AS n FROM bg_o.\"%w\"', x.name, x.name) ELSE printf('SELECT %Q AS t, count(*) AS n FROM (SELECT %s FROM bg_o.\"%w\" EXCEPT SELECT %s FROM main.\"%w\")', x.name, x.cols, x.name, x.cols, x.name) END, ' UNION ALL ') FROM (SELECT o.name, (SELECT group_concat(printf('\"%w\"', c.name), ', ') FROM pragma_table_info(o.name, 'bg_o') c WHERE c.name IN (SELECT m.name FROM pragma_table_info(o.name, 'main') m) AND (o.name <> $(bg_sqlq "${3:-migrations}") OR c.name = $(bg_sqlq "${4:-name}"))) AS cols FROM bg_o.sqlite_master o WHERE o.type = 'table' AND o.name NOT LIKE 'sqlite\_%' ESCAPE '\\' ORDER BY o.name) x") || return 1
  [ -z "$bg_q" ] || bg_sql "$1" "$bg_att SELECT t, n FROM ($bg_q) WHERE n > 0 ORDER BY t"
}

# bg_sqlite_version: sets bg_sv_path, bg_sv (3.40.1) and bg_sv_num (3040001); 1: no sqlite3, 2: unreadable version.
# shellcheck disable=SC2034 # bg_sv_path and bg_sv_num are what the caller reads
bg_sqlite_version() {
  bg_sv=''; bg_sv_num=''; bg_sv_path=$(command -v sqlite3) || { bg_sv_path=''; return 1; }
  bg_sv_out=$(sqlite3 --version 2>&1 </dev/null | head -n 1)
  bg_sv=${bg_sv_out%%[!0-9.]*}
  case $bg_sv in *.*) ;; *) return 2 ;; esac
  bg_sv_a=${bg_sv%%.*}; bg_sv_r=${bg_sv#*.}; bg_sv_b=${bg_sv_r%%.*}; bg_sv_c=0
  case $bg_sv_r in *.*) bg_sv_c=${bg_sv_r#*.}; bg_sv_c=${bg_sv_c%%.*} ;; esac
  for bg_sv_n in "$bg_sv_a" "$bg_sv_b" "$bg_sv_c"; do case $bg_sv_n in ''|*[!0-9]*|?????*) return 2 ;; esac; done
  bg_sv_a=${bg_sv_a#"${bg_sv_a%%[!0]*}"}; bg_sv_b=${bg_sv_b#"${bg_sv_b%%[!0]*}"}; bg_sv_c=${bg_sv_c#"${bg_sv_c%%[!0]*}"}
  bg_sv_num=$(( ${bg_sv_a:-0} * 1000000 + ${bg_sv_b:-0} * 1000 + ${bg_sv_c:-0} ))
}
