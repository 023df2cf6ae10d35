# shellcheck shell=sh
# Putting a backup in place of an env's database (migrate's undo, the restore action and its undo), and migrate's own checks.
# The variables of bg_restore_db are global on purpose: its EXIT trap reads them after a failure.
# shellcheck disable=SC2034,SC2154

# bg_restore_db DB FROM APP RELEASE_S RUNID TAG MISSING CHECK [BEFORE RECORD ACCEPT ENV TABLE]: stop APP, swap FROM in for DB (old file kept as REAL.TAG-RUNID), start APP again.
bg_restore_db() {
  set -e
  db=$1; bak=$2; app=$3; bg_rs_release=$4; bg_rs_run=$5; bg_rs_tag=$6; bg_rs_missing=$7; bg_rs_check=$8
  before=${9:-}; record=${10:-}; bg_rs_accept=${11:-0}; bg_rs_env=${12:-}; mt=${13:-migrations}
  bg_rds_check
  # The file itself when the env's path is a symlink (e.g. to the shared database).
  real=$(readlink -f "$db" || true); [ -n "$real" ] || real=$db
  restart=''; swapped=''
  # Stopped half-way (a failure, Ctrl-C, SIGTERM, a timeout): an app this stopped is started again whenever a
  # database is in place (the old one, or the restored one); only while neither is does it stay stopped.
  trap 'rc=$?; trap - EXIT; [ "$rc" -eq 0 ] || [ -z "$restart" ] || bg_restore_leftover "$app" "$real" "$swapped" "$bak"; exit "$rc"' EXIT
  trap 'exit 130' INT; trap 'exit 143' TERM
  if [ -n "$app" ]; then
    procs=$(bg_pm2_procs "$app")
    if printf '%s\n' "$procs" | grep -q ' online '; then restart=1; pm2 stop "$app" >/dev/null; echo "stopped $app"; fi
  fi
  # Nobody may keep the file open: a process would go on writing to the replaced file.
  if ! bg_wait_released "$bg_rs_release" "$real"; then
    [ -z "$restart" ] || { pm2 start "$app" >/dev/null; restart=''; }
    echo "bg: cannot restore $real while a process has it open; stop it, then run bg rollback again" >&2; exit 1
  fi
  [ -z "$before" ] || bg_restore_before
  # The swap itself (src/remote/restore-dbs.sh), shared with the several-databases restore.
  bg_rds_swap
  if [ -n "$restart" ]; then pm2 start "$app" >/dev/null; bg_pm2_wait_online "$app" 30; restart=''; echo "started $app"; fi
}

# bg_restore_before: (inside bg_restore_db, app stopped) refuse rows the backup lacks unless accepted, then copy the database to BEFORE (what the undo restores).
bg_restore_before() {
  [ -f "$real" ] || return 0
  x=$(bg_extra "$bak" "$real" "$mt") || exit 1
  x=$(printf '%s\n' "$x" | awk -F '|' 'NF { printf "%s%s %s rows", (n++ ? ", " : ""), $1, $2 }')
  if [ -n "$x" ]; then
    if [ "$bg_rs_accept" = 1 ]; then
      echo "restoring discards rows of $bg_rs_env written after the backup (accepted; they stay in the copy kept aside): $x"
    else
      [ -z "$restart" ] || { pm2 start "$app" >/dev/null; restart=''; }
      echo "bg: restoring would discard rows of $bg_rs_env written after the backup: $x" >&2
      echo "bg: nothing was changed; pass --accept-data-loss to restore anyway (the database as it is now is kept aside)" >&2
      exit 1
    fi
  fi
  mkdir -p "$(dirname "$before")"
  rm -f "$before.tmp"
  bg_sql "$real" "VACUUM INTO $(bg_sqlq "$before.tmp")"
  sync "$before.tmp"
  [ "$(bg_sql "$before.tmp" "PRAGMA integrity_check")" = ok ] || { echo "bg: the copy of $real taken before the restore fails integrity_check" >&2; exit 1; }
  [ "$(bg_counts "$before.tmp")" = "$(bg_counts "$real")" ] || { echo "bg: the copy of $real taken before the restore lacks rows" >&2; exit 1; }
  mv -f "$before.tmp" "$before"
  bg_counts "$real" > "$before.counts"
  printf '%s ok\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$before.verified"
  mkdir -p "$(dirname "$record")"
  printf '%s\n' "$before" > "$record"
  echo "the database as it was is backed up to $before (undo restores it)"
}

# bg_undo_if FILE MESSAGE: exit 0 with MESSAGE when FILE is missing (the step never got far enough to need an undo).
bg_undo_if() { [ -f "$1" ] || { printf '%s\n' "$2"; exit 0; }; }

# bg_rows_since BAK DB TABLE ENV RUNID WHAT [GUARD]: "ENV: rows written to DB WHAT (kept aside in DB.rolled-back-RUNID): …" for rows DB holds and BAK lacks.
bg_rows_since() {
  [ -z "${7:-}" ] || [ -f "$7" ] || return 0
  [ -f "$1" ] && [ -f "$2" ] || return 0
  bg_rx=$(bg_extra "$1" "$2" "$3") || return 1
  # ENVIRON, not -v: awk -v would process backslash escapes in the table name.
  bg_rx=$(printf '%s\n' "$bg_rx" | BG_MT="$3" awk -F '|' 'NF && $1 != ENVIRON["BG_MT"] { printf "%s%s %s rows", (n++ ? ", " : ""), $1, $2 }')
  [ -z "$bg_rx" ] || echo "$4: rows written to $2 $6 (kept aside in $2.rolled-back-$5): $bg_rx"
}

# bg_migrate_capture SD BAK ENV: this run's backup of ENV exists; recorded in SD/backup (what the undo restores).
bg_migrate_capture() {
  mkdir -p "$1"
  test -f "$2" || { echo "bg: no backup of $3 from this run at $2: put a backup step for $3 before migrate (its undo restores that backup)" >&2; return 1; }
  printf '%s\n' "$2" > "$1/backup"
}

# bg_migrate_breaking_allowed SD: record in SD that this migrate step lets breaking migrations through (with.allow_breaking).
bg_migrate_breaking_allowed() {
  mkdir -p "$1" && printf '%s breaking migrations allowed (with.allow_breaking): no old version runs meanwhile\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$1/breaking-allowed"
  echo "breaking migrations allowed: recorded in $1/breaking-allowed"
}

# bg_migrate_pending DIR PENDING: the pending check (the user's shell command, run in DIR) prints nothing.
bg_migrate_pending() {
  cd "$1" || return 1
  bg_mo=$(eval "$2") || { echo "bg: the pending check failed" >&2; return 1; }
  [ -z "$(printf '%s' "$bg_mo" | tr -d '[:space:]')" ] || { echo "bg: still pending after migrate:" >&2; printf '%s\n' "$bg_mo" >&2; return 1; }
  echo "no pending migrations"
}

# bg_migrate_again DIR COMMAND PATTERN: the migrate command (the user's shell command) run again in DIR says it is up to date (PATTERN: ERE, any case).
bg_migrate_again() {
  cd "$1" || return 1
  bg_mo=$(eval "$2" 2>&1) || { printf '%s\n' "$bg_mo" >&2; echo "bg: the migrate command failed when run again" >&2; return 1; }
  printf '%s\n' "$bg_mo" | grep -Eiq -- "$3" || { printf '%s\n' "$bg_mo" >&2; echo "bg: run again, the migrate command did not say it was up to date (expected /$3/)" >&2; return 1; }
  printf '%s\n' "$bg_mo" | tail -n 1
}

# bg_db_ok_after DB WHAT: PRAGMA quick_check of DB is ok after WHAT.
bg_db_ok_after() { bg_qa=$(bg_sql "$1" 'PRAGMA quick_check') || return 1; [ "$bg_qa" = ok ] || { echo "bg: quick_check of $1 after $2: $bg_qa" >&2; return 1; }; }

# bg_restore_verify DB BAK: DB passes integrity_check and holds the row counts of BAK (printed).
bg_restore_verify() {
  bg_rv=$(bg_sql "$1" "PRAGMA integrity_check")
  [ "$bg_rv" = ok ] || { echo "bg: integrity_check of $1 after the restore: $bg_rv" >&2; return 1; }
  [ "$(bg_counts "$1")" = "$(bg_counts "$2")" ] || { echo "bg: row counts of $1 differ from the backup $2" >&2; return 1; }
  bg_counts "$1" | tr '\n' ' '
}

# bg_backup_ok FILE: the backup FILE exists and passes quick_check.
bg_backup_ok() { bg_quick_ok "$1" 'bg: no such backup'; }

# bg_migration_files DIR DB SQL MISSING: each .sql file of DIR, in version order, as "Bapplied NAME" (a row of SQL names it, with or without .sql) or "Bpending NAME", then its text; B is $BG_MIGRATION_BOUNDARY (bg sets a random one per read, so no file can forge a header), else @@.
bg_migration_files() {
  [ -d "$1" ] || { printf '%s\n' "$4" >&2; return 1; }
  bg_mf_b=${BG_MIGRATION_BOUNDARY:-@@}
  bg_mf_applied=$(bg_sql "$2" "$3" 2>/dev/null || true)
  # shellcheck disable=SC2010 # file names are read one a line; a name with a newline is not a migration
  ls -1 "$1" | grep '\.sql$' | sort -V | while IFS= read -r bg_mf; do
    if printf '%s\n' "$bg_mf_applied" | grep -qxF -e "$bg_mf" -e "${bg_mf%.sql}"; then printf '%sapplied %s\n' "$bg_mf_b" "$bg_mf"; else printf '%spending %s\n' "$bg_mf_b" "$bg_mf"; fi
    cat "$1/$bg_mf"; echo
  done
}

# bg_restore_discards DB BAK TABLE: "T N rows, …": the rows of DB that BAK lacks (TABLE: the migrations table, by name only); 3 when BAK is missing, 4 when it is a symlink (bg writes backups as plain files).
bg_restore_discards() {
  [ ! -L "$2" ] || return 4
  [ -f "$2" ] || return 3
  [ -f "$1" ] || return 0
  bg_rd_x=$(bg_extra "$2" "$1" "$3") || return 1
  printf '%s\n' "$bg_rd_x" | awk -F '|' 'NF { printf "%s%s %s rows", (n++ ? ", " : ""), $1, $2 }'
}
