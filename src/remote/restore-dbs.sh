# shellcheck shell=sh
# Putting the backups of several databases of one env in place (`dbs:`): migrate's undo, the
# restore action and its undo, with the app stopped once around all of them.
# The variables are global on purpose: bg_restore_before and the EXIT trap read them.
# shellcheck disable=SC2034,SC2154

# bg_restore_dbs APP RELEASE_S RUNID TAG CHECK ACCEPT ENV TABLE [DB BAK RECORD MISSING BEFORE BREC]...: stop APP once, put each BAK in place of its DB (old file kept as REAL.TAG-RUNID), start APP again.
# A database is left alone when RECORD is given and missing (this step never recorded it), or when BAK is missing and MISSING is empty (that run did not back it up); a missing BAK with MISSING fails before anything stops.
# BEFORE (optional): with the app stopped, refuse rows BAK lacks unless ACCEPT=1, copy DB to BEFORE and record that path in BREC (bg_restore_before), for every database before any is replaced.
bg_restore_dbs() {
  set -e
  app=$1; bg_rs_release=$2; bg_rs_run=$3; bg_rs_tag=$4; bg_rs_check=$5; bg_rs_accept=$6; bg_rs_env=$7; mt=$8; shift 8
  bg_rds_done=''; restart=''; swapped=''; real=''; bak=''
  bg_rds_pass check "$@"
  [ -n "$bg_rds_n" ] || { echo "no database of $bg_rs_env to restore"; return 0; }
  # Stopped half-way: the app is started again whenever every database is in place (old or restored);
  # only while one is missing does it stay stopped, and the message says which.
  trap 'rc=$?; trap - EXIT; [ "$rc" -eq 0 ] || { [ -z "$bg_rds_done" ] || echo "bg: restored before the failure:$bg_rds_done" >&2; [ -z "$restart" ] || bg_restore_leftover "$app" "${real:-/}" "$swapped" "$bak"; }; exit "$rc"' EXIT
  trap 'exit 130' INT; trap 'exit 143' TERM
  if [ -n "$app" ]; then
    procs=$(bg_pm2_procs "$app")
    if printf '%s\n' "$procs" | grep -q ' online '; then restart=1; pm2 stop "$app" >/dev/null; echo "stopped $app"; fi
  fi
  # Nobody may keep any of the files open: a process would go on writing to a replaced file.
  if ! bg_rds_pass released "$@"; then
    [ -z "$restart" ] || { pm2 start "$app" >/dev/null; restart=''; }
    echo "bg: cannot restore the databases of $bg_rs_env while a process has one open; stop it, then run bg rollback again" >&2; exit 1
  fi
  bg_rds_pass before "$@"
  bg_rds_pass swap "$@"
  if [ -n "$restart" ]; then pm2 start "$app" >/dev/null; bg_pm2_wait_online "$app" 30; restart=''; echo "started $app"; fi
}

# bg_rds_pass PHASE [DB BAK RECORD MISSING BEFORE BREC]...: one pass of bg_restore_dbs over its databases (check, released, before, swap).
bg_rds_pass() {
  bg_rds_phase=$1; shift; bg_rds_n=''
  while [ "$#" -ge 6 ]; do
    db=$1; bak=$2; bg_rds_rec=$3; bg_rs_missing=$4; before=$5; record=$6; shift 6
    [ -z "$bg_rds_rec" ] || [ -f "$bg_rds_rec" ] || continue
    if [ ! -f "$bak" ] && [ -z "$bg_rs_missing" ]; then [ "$bg_rds_phase" != check ] || echo "no backup $bak: $db is left as it is"; continue; fi
    bg_rds_n=1
    real=$(readlink -f "$db" || true); [ -n "$real" ] || real=$db
    case $bg_rds_phase in
      check) bg_rds_check ;;
      released) bg_wait_released "$bg_rs_release" "$real" || return 1 ;;
      before) [ -z "$before" ] || bg_restore_before ;;
      swap) bg_rds_swap ;;
    esac
  done
}

# bg_rds_check: (inside bg_restore_db or bg_restore_dbs) BAK exists and passes quick_check (or integrity_check, recorded in BAK.verified, with CHECK=verify).
bg_rds_check() {
  test -f "$bak" || { printf '%s\n' "$bg_rs_missing" >&2; exit 1; }
  if [ "$bg_rs_check" = verify ]; then
    check=$(bg_sql "$bak" 'PRAGMA integrity_check' 2>&1) || true; [ "$check" = ok ] || { bg_mark_verified "$bak" "failed: $(printf '%s' "$check" | head -n 1)"; echo "bg: the backup $bak fails integrity_check: $check" >&2; exit 1; }; bg_mark_verified "$bak" ok
  else
    check=$(bg_sql "$bak" 'PRAGMA quick_check')
    [ "$check" = ok ] || { echo "bg: cannot restore: the backup $bak fails quick_check: $check" >&2; exit 1; }
  fi
}

# bg_rds_swap: (inside bg_restore_db or bg_restore_dbs, app stopped) put BAK in place of REAL atomically, the old file kept aside; report row counts.
bg_rds_swap() {
  swapped=''
  aside="$real.$bg_rs_tag-$bg_rs_run"; [ ! -e "$aside" ] || aside="$aside.$(date +%s)"
  mode=delete; [ ! -f "$real" ] || mode=$(bg_sql "$real" "PRAGMA journal_mode")
  cp "$bak" "$real.restore-tmp"
  [ "$mode" != wal ] || bg_sql "$real.restore-tmp" "PRAGMA journal_mode=WAL" >/dev/null
  sync "$real.restore-tmp"
  if [ -f "$real" ]; then
    # Fold the WAL into the file, so that the copy kept aside is complete on its own.
    bg_sql "$real" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
    chmod --reference="$real" "$real.restore-tmp" 2>/dev/null || true
    mv -f "$real" "$aside"
  fi
  rm -f "$real-wal" "$real-shm" "$real-journal"
  mv -f "$real.restore-tmp" "$real"
  swapped=1; bg_rds_done="$bg_rds_done $real"
  echo "restored $real from $bak"
  if [ -f "$aside" ]; then
    bg_rs_what=replaced; [ "$bg_rs_tag" != rolled-back ] || bg_rs_what=migrated
    echo "the $bg_rs_what database is kept as $aside"
    was=$(bg_counts "$aside" | tr '\n' ' '); now=$(bg_counts "$real" | tr '\n' ' ')
    [ "$was" = "$now" ] || echo "rows per table: $bg_rs_what database $was; restored $now (rows written after the backup are only in $aside)"
  fi
}

# bg_migrate_capture_dbs SD ENV [NAME BAK RECORD]...: this run's backup of every database of ENV exists (checked first), then each recorded in SD/RECORD (what the undo restores).
bg_migrate_capture_dbs() {
  bg_mc_sd=$1; bg_mc_env=$2; shift 2; mkdir -p "$bg_mc_sd"
  bg_mc_bad=''
  for bg_mc_i in $(seq 1 3 "$#"); do
    eval "bg_mc_name=\${$bg_mc_i} bg_mc_bak=\${$((bg_mc_i + 1))}"
    test -f "$bg_mc_bak" || bg_mc_bad="$bg_mc_bad $bg_mc_name ($bg_mc_bak)"
  done
  [ -z "$bg_mc_bad" ] || { echo "bg: no backup from this run of database(s) of $bg_mc_env:$bg_mc_bad: put a backup step for $bg_mc_env before migrate (it backs up every database of the env; the undo restores them)" >&2; return 1; }
  while [ "$#" -ge 3 ]; do printf '%s\n' "$2" > "$bg_mc_sd/$3"; echo "recorded this run's backup of $bg_mc_env.$1: $2"; shift 3; done
}
