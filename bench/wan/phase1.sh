#!/bin/sh
# The seeds' manual phase 1, done carefully, as a person would script it: one OpenSSH
# ControlMaster connection, one `ssh` per action, every value single-quoted for the remote shell.
# Back up both databases (VACUUM INTO, fsync, integrity check, same row counts), migrate GREEN,
# check nothing is pending, health check with retries; then the same for BLUE.
#
# usage: phase1.sh SSH_CONFIG HOST BACKUP_DIR RUN_ID BLUE_DIR BLUE_HEALTH GREEN_DIR GREEN_HEALTH
# (the ssh config names HOST with its ControlPath; the databases are DIR/database.db; the
# directories are absolute: sqlite3 takes no `--`, so a path must not start with '-')
set -eu
cfg=$1 host=$2 backups=$3 run=$4 blue_dir=$5 blue_health=$6 green_dir=$7 green_health=$8

# q VALUE: VALUE as one single-quoted word for the remote shell.
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
# r COMMAND: run COMMAND on the host over the shared connection.
r() { ssh -F "$cfg" "$host" "$1"; }
# fail MESSAGE: stop the procedure.
fail() { echo "phase1.sh: $1" >&2; exit 1; }

for p in "$backups" "$blue_dir" "$green_dir"; do case $p in /*) ;; *) fail "not an absolute path: $p" ;; esac; done

ssh -F "$cfg" -o ControlMaster=yes -fN "$host"
trap 'ssh -F "$cfg" -O exit "$host" 2>/dev/null' EXIT

r "mkdir -p -- $(q "$backups")"

# backup ENV DIR: a consistent copy, fsynced and checked.
backup() {
  db="$2/database.db"
  dst="$backups/$1-$run.db"
  sql="VACUUM INTO '$(printf '%s' "$dst" | sed "s/'/''/g")'"
  r "sqlite3 -bail -cmd '.timeout 10000' $(q "$db") $(q "$sql") && sync -- $(q "$dst")"
  [ "$(r "sqlite3 $(q "$dst") 'PRAGMA integrity_check'")" = ok ] || fail "integrity check of $dst"
  counts="SELECT count(*) FROM time_entries"
  [ "$(r "sqlite3 $(q "$db") $(q "$counts")")" = "$(r "sqlite3 $(q "$dst") $(q "$counts")")" ] || fail "row counts of $dst differ"
}

# migrate DIR HEALTH: run the migrations, check none is left, wait for the app to answer.
migrate() {
  r "cd -- $(q "$1") && npm run migrate:prod"
  [ -z "$(r "cd -- $(q "$1") && node migrate.js --pending")" ] || fail "migrations still pending in $1"
  r "i=0; until curl -fsS -o /dev/null --max-time 5 -- $(q "$2"); do i=\$((i + 1)); [ \$i -lt 10 ] || exit 1; sleep 1; done"
}

backup blue "$blue_dir"
backup green "$green_dir"
migrate "$green_dir" "$green_health"
migrate "$blue_dir" "$blue_health"
echo "phase1.sh: done"
