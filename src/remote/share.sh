# shellcheck shell=sh
# share-db: moving every env onto the host's shared database (freeze, copy, switch, restart, verify) and back.
# Its steps' state lives in globals (sd, shared, envs, base) and files under SD, as when the steps were inline.
# SC2015: `[ a ] && [ b ] || fail` is meant (fail when either test fails); SC2086: pid lists split on purpose;
# SC3013: test -ef is in dash, bash and busybox sh, the shells bg runs on.
# shellcheck disable=SC2034,SC2154,SC2015,SC2086,SC3013

# bg_share_envs SD SHARED NAME DB APP HEALTH...: sets sd, shared, envs, and what db_of, app_of and health_of return.
bg_share_envs() {
  sd=$1; shared=$2; shift 2; envs=''; bg_ei=0
  while [ $# -ge 4 ]; do
    bg_ei=$((bg_ei + 1)); envs="$envs${envs:+ }$1"
    # Only the variable names are built here (from a counter); the values stay data.
    eval "bg_env_d_$bg_ei=\$2; bg_env_a_$bg_ei=\$3; bg_env_h_$bg_ei=\$4"
    shift 4
  done
}

# health_of NAME: the health URL of env NAME (see bg_share_envs; empty: none).
health_of() { bg_env_field h "$1"; }

# bg_share_capture SD SHARED NAME DB APP HEALTH...: record in SD/apps which apps of the envs are online (share-db capture).
bg_share_capture() {
  bg_share_envs "$@"
  mkdir -p "$sd"
  : > "$sd/apps.tmp"
  for e in $envs; do
    a=$(app_of "$e"); procs=$(bg_pm2_procs "$a") || exit 1
    [ -n "$procs" ] || { echo "bg: pm2 knows no app named $a (env $e): check the inventory and PM2_HOME" >&2; exit 1; }
    if printf '%s\n' "$procs" | grep -q ' online '; then echo "$e online"; else echo "$e down"; fi >> "$sd/apps.tmp"
  done
  mv "$sd/apps.tmp" "$sd/apps"
}

# bg_share_freeze RELEASE_S SD SHARED NAME DB APP HEALTH...: stop the envs' apps and wait until nothing has their databases open (nothing changed when refused).
bg_share_freeze() {
  bg_sh_rel=$1; shift; bg_share_envs "$@"
  set -e
  for e in $envs; do
    db=$(db_of "$e")
    [ -f "$db" ] && [ ! -L "$db" ] || { echo "bg: $db ($e) is not a regular file: already shared? (nothing was changed)" >&2; exit 1; }
    if [ -e "$db.OLD" ] || [ -L "$db.OLD" ]; then echo "bg: $db.OLD already exists: move it away first (nothing was changed)" >&2; exit 1; fi
  done
  if [ -e "$shared" ] || [ -L "$shared" ]; then echo "bg: the shared database $shared already exists: bg will not overwrite it (nothing was changed)" >&2; exit 1; fi
  mkdir -p "$(dirname "$shared")"
  # The freeze starts here: bg_share_restart reports how long it lasted.
  date +%s%N > "$sd/freeze-start"
  # In parallel: each pm2 call costs ~0.3-0.5 s of the freeze (behind a proxy: of the hold window).
  bg_jobs=''; for e in $envs; do pm2 stop "$(app_of "$e")" >/dev/null & bg_jobs="$bg_jobs $!"; done
  for j in $bg_jobs; do wait "$j"; done
  set --; for e in $envs; do set -- "$@" "$(db_of "$e")"; done
  bg_wait_released "$bg_sh_rel" "$@"
  echo "writes frozen: the apps of $envs are stopped and no process has their databases open"
}

# bg_share_copy BASE SAME_SCHEMA TABLE COLUMN SD SHARED NAME DB APP HEALTH...: same schema (SAME_SCHEMA 1), pick the base, copy it consistently to SHARED.
bg_share_copy() {
  base=$1; bg_sh_same=$2; bg_sh_t=$3; bg_sh_c=$4; shift 4; bg_share_envs "$@"
  set -e
  if [ "$bg_sh_same" = 1 ]; then
    first=''
    for e in $envs; do
      if [ -z "$first" ]; then first=$e; continue; fi
      bg_schema_compare "$first" "$(db_of "$first")" "$e" "$(db_of "$e")" "$bg_sh_t" "$bg_sh_c" >/dev/null || { echo "bg: refusing to share databases whose schemas differ (phase1 brings them level)" >&2; exit 1; }
    done
  fi
  bg_pick_base "$bg_sh_t" "$bg_sh_c" > "$sd/rows"
  cat "$sd/rows"
  if [ "$base" = auto ]; then
    [ -n "$bg_base" ] || { echo "bg: each database holds rows another lacks, so share-db will not choose a base:" >&2; grep '^rows in ' "$sd/rows" | sed 's/^/  /' >&2; echo "  give with.base (phase2: --var base=ENV); the rows only the others hold then stay in their .OLD files" >&2; exit 1; }
    base=$bg_base
  fi
  echo "$base" > "$sd/base"
  src=$(db_of "$base")
  for e in $envs; do
    db=$(db_of "$e")
    bg_sql "$db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
    [ ! -s "$db-wal" ] || { echo "bg: $db-wal is not empty after a checkpoint" >&2; exit 1; }
  done
  tmp="$shared.bg-tmp"
  rm -f "$tmp" "$tmp-wal" "$tmp-shm" "$tmp-journal"
  echo "$shared" > "$sd/shared"
  bg_sql "$src" ".backup $(bg_dotq "$tmp")"
  sync "$tmp"
  check=$(bg_sql "$tmp" 'PRAGMA integrity_check')
  [ "$check" = ok ] || { echo "bg: integrity_check of the copy: $check" >&2; exit 1; }
  bg_counts "$src" > "$sd/counts"
  [ "$(bg_counts "$tmp")" = "$(cat "$sd/counts")" ] || { echo "bg: the copy does not hold the rows of $src" >&2; exit 1; }
  chmod --reference="$src" "$tmp" 2>/dev/null || true
  mv "$tmp" "$shared"
  sync "$shared" "$(dirname "$shared")" 2>/dev/null || sync
  for e in $envs; do db=$(db_of "$e"); rm -f "$db-wal" "$db-shm"; echo "$(wc -c < "$db" | tr -d ' ') $(date -r "$db" +%s%N)" > "$sd/old-$e"; done
  echo "copied $base ($src) to $shared: integrity ok; rows: $(tr '\n' ' ' < "$sd/counts")"
}

# bg_share_switch SD SHARED NAME DB APP HEALTH...: each env's database becomes a symlink to SHARED, the old file kept as DB.OLD (a hard link).
bg_share_switch() {
  bg_share_envs "$@"
  set -e
  target=$(readlink -f "$shared")
  for e in $envs; do
    db=$(db_of "$e")
    echo "$e" >> "$sd/switched"
    ln -- "$db" "$db.OLD"
    ln -sfn -- "$target" "$db.bg-tmp"
    mv -T -- "$db.bg-tmp" "$db"
    [ "$(readlink -f "$db")" = "$target" ] || { echo "bg: $db does not resolve to $target" >&2; exit 1; }
    echo "$db -> $target (old file kept as $db.OLD)"
  done
}

# bg_share_restart WAIT_S HOLD_MS SD SHARED NAME DB APP HEALTH...: start the apps that were online again, wait until they answer; report the freeze (HOLD_MS: the proxy's hold window, 0 without one).
bg_share_restart() {
  bg_sh_wait=$1; bg_sh_hold=$2; shift 2; bg_share_envs "$@"
  set -e
  echo started > "$sd/started"
  bg_jobs=''; for e in $envs; do if grep -qx "$e online" "$sd/apps"; then pm2 start "$(app_of "$e")" >/dev/null & bg_jobs="$bg_jobs $!"; fi; done
  for j in $bg_jobs; do wait "$j"; done
  for e in $envs; do if grep -qx "$e online" "$sd/apps"; then bg_pm2_wait_online "$(app_of "$e")" "$bg_sh_wait"; fi; done
  bg_share_back "$bg_sh_wait" "$bg_sh_hold"
}

# bg_share_back WAIT_S HOLD_MS: (share-db's restart, envs/sd/shared set) wait until every app that was online answers its health URL; record and report the freeze.
bg_share_back() {
  # Online in pm2 is not listening yet: the freeze ends when every app answers its health URL.
  for e in $envs; do
    h=$(health_of "$e"); [ -n "$h" ] && grep -qx "$e online" "$sd/apps" || continue
    bg_i=$(( $1 * 20 ))
    until (bg_http_check "$h" 2) >/dev/null 2>&1; do
      bg_i=$((bg_i - 1)); [ "$bg_i" -gt 0 ] || { echo "bg: $h does not answer $1 s after the restart" >&2; exit 1; }
      sleep 0.05
    done
  done
  bg_f=$(( ($(date +%s%N) - $(cat "$sd/freeze-start")) / 1000000 ))
  echo "$bg_f" > "$sd/freeze-ms"
  echo "the apps of $envs are back, on $shared"
  if [ "$2" -gt 0 ]; then
    [ "$bg_f" -le "$2" ] && bg_w='within' || bg_w='LONGER than'
    echo "writes were frozen for $bg_f ms (pm2 stop until every app answered its health URL), $bg_w the proxy's hold window of $2 ms"
  else
    echo "writes were frozen for $bg_f ms (pm2 stop until every app answered its health URL): requests in that window were refused"
  fi
}

# bg_share_hold_check HOLD_MS MARGIN_PCT EXPECTED CONFIG RETRIES CONNECT_MS SOCKET DB...: before the freeze: HAProxy runs with the inventory's hold settings and holds requests longer than the freeze is expected to take (EXPECTED ms, or auto: from the databases' size), with MARGIN_PCT.
bg_share_hold_check() {
  bg_hold=$1; bg_mg=$2; bg_exp=$3; bg_cfg=$4; bg_rt=$5; bg_ct=$6; bg_sock=$7; shift 7
  { grep -qx "    retries $bg_rt" "$bg_cfg" && grep -qx "    timeout connect ${bg_ct}ms" "$bg_cfg"; } 2>/dev/null \
    || { echo "bg: $bg_cfg does not set retries $bg_rt and timeout connect ${bg_ct}ms as the inventory's proxy.hold says: run bg run proxy first (nothing was changed)" >&2; exit 1; }
  bg_proxy_send "$bg_sock" "show info" >/dev/null || { echo "bg: HAProxy does not answer on $bg_sock: nothing would hold requests during the freeze (start it, or give share-db hold_check: false) (nothing was changed)" >&2; exit 1; }
  if [ "$bg_exp" = auto ]; then
    bg_by=0
    for db; do bg_by=$((bg_by + $(wc -c < "$db"))); [ ! -f "$db-wal" ] || bg_by=$((bg_by + $(wc -c < "$db-wal"))); done
    # Measured here (README, share-db): 2.3-4.4 s of stopping, starting and health checks for the
    # example app under load on 2 cores, and ~0.5 s per 40 MB of databases (compare, copy, check):
    # estimated at 4 s plus twice that rate.
    bg_exp=$((4000 + bg_by / 40000))
    bg_how="estimated from $((bg_by / 1048576)) MB of databases: 4 s + 1 s per 40 MB"
  else bg_how='with.expected_freeze'; fi
  bg_need=$((bg_exp * bg_mg / 100))
  [ "$bg_hold" -ge "$bg_need" ] || {
    echo "bg: the freeze is expected to take $bg_exp ms ($bg_how); with a margin of $bg_mg % the proxy must hold requests for $bg_need ms, but it holds them for $bg_hold ms (proxy.hold: retries $bg_rt x $bg_ct ms)." >&2
    echo "  Raise proxy.hold.retries to at least $(( (bg_need + bg_hold / bg_rt - 1) / (bg_hold / bg_rt) )) in the inventory and run bg run proxy, or give share-db expected_freeze if you measured it (nothing was changed)" >&2
    exit 1
  }
  echo "the proxy holds requests for $bg_hold ms; the freeze is expected to take $bg_exp ms ($bg_how), $bg_need ms with the margin: ok"
}

# bg_share_verify_open SD SHARED NAME DB APP HEALTH...: every pm2 process of the envs that were online has SHARED open (/proc/PID/fd, by inode).
bg_share_verify_open() {
  bg_share_envs "$@"
  target=$(readlink -f "$shared")
  for e in $envs; do
    db=$(db_of "$e"); a=$(app_of "$e")
    [ -L "$db" ] && [ "$(readlink -f "$db")" = "$target" ] || { echo "bg: $db does not resolve to $target" >&2; exit 1; }
    grep -qx "$e online" "$sd/apps" || continue
    h=$(health_of "$e"); [ -z "$h" ] || curl -s -g --proto =http,https -o /dev/null --max-time 2 --url "$h" || true
    procs=$(bg_pm2_procs "$a") || exit 1
    [ -n "$procs" ] || { echo "bg: pm2 lists no process of $a" >&2; exit 1; }
    for pid in $(printf '%s\n' "$procs" | awk '{ print $1 }'); do
      [ "$pid" -gt 0 ] || { echo "bg: a process of $a is not running" >&2; exit 1; }
      [ -r "/proc/$pid/fd" ] || { echo "bg: cannot read /proc/$pid/fd ($a): log in as the user that runs the apps (or root)" >&2; exit 1; }
      [ -n "$(find -L /proc/"$pid"/fd -maxdepth 1 -samefile "$target" 2>/dev/null)" ] || { echo "bg: pid $pid ($a) does not have $target open" >&2; exit 1; }
    done
    echo "$e: $a pid(s) $(printf '%s\n' "$procs" | awk '{ print $1 }' | tr '\n' ' ')have $target open"
  done
}

# bg_share_verify_old SD SHARED NAME DB APP HEALTH...: no process has an old database open, the old files are unchanged since the copy, SHARED passes quick_check.
bg_share_verify_old() {
  bg_share_envs "$@"
  for e in $envs; do
    db=$(db_of "$e")
    h=$(bg_holders "$db.OLD")
    [ -z "$h" ] || { echo "bg: process(es) $h still have the old database $db.OLD open: their writes would be lost" >&2; bg_describe_pids $h >&2; exit 1; }
    [ ! -e "$db-wal" ] || { echo "bg: $db-wal appeared beside the link: a process wrote to the old database after the copy" >&2; exit 1; }
    [ "$(wc -c < "$db.OLD" | tr -d ' ') $(date -r "$db.OLD" +%s%N)" = "$(cat "$sd/old-$e")" ] || { echo "bg: $db.OLD changed after the copy: a process wrote to it" >&2; exit 1; }
  done
  check=$(bg_sql "$shared" 'PRAGMA quick_check') || exit 1
  [ "$check" = ok ] || { echo "bg: quick_check of $shared: $check" >&2; exit 1; }
  echo "no process has an old database open; the old files are unchanged since the copy; $shared passes quick_check"
}

# bg_share_undo RUNID RELEASE_S WAIT_S SD SHARED NAME DB APP HEALTH...: each env back on its own database, SHARED kept aside when used (or removed), apps started again.
bg_share_undo() {
  runid=$1; bg_sh_rel=$2; bg_sh_wait=$3; shift 3; bg_share_envs "$@"
  [ -f "$sd/apps" ] || { echo "nothing to undo: share-db never started"; exit 0; }
  bg_share_undo_stop
  bg_share_undo_files
  bg_share_undo_start
}

# bg_share_undo_stop: (share-db's undo, globals of bg_share_envs, bg_sh_rel) once the apps ran or a link was made: stop the apps, wait until nothing has the databases or SHARED open.
bg_share_undo_stop() {
  if [ -f "$sd/started" ] || [ -f "$sd/switched" ]; then
    for e in $envs; do pm2 stop "$(app_of "$e")" >/dev/null || exit 1; done
    set --; for e in $envs; do set -- "$@" "$(db_of "$e")"; done; [ ! -e "$shared" ] || set -- "$@" "$shared"
    bg_wait_released "$bg_sh_rel" "$@" || exit 1
  fi
}

# bg_share_undo_files: (share-db's undo, globals of bg_share_envs, runid) each DB.OLD back under its name; SHARED kept aside as SHARED.rolled-back-RUNID when the apps used it, else removed.
bg_share_undo_files() {
  for e in $envs; do
    db=$(db_of "$e"); rm -f "$db.bg-tmp"
    if [ -L "$db" ] && [ -f "$db.OLD" ]; then mv -T -- "$db.OLD" "$db" || exit 1; echo "$e: $db is its own database again"
    elif [ -f "$db.OLD" ] && [ "$db.OLD" -ef "$db" ]; then rm -f "$db.OLD"
    elif [ -e "$db.OLD" ] || [ -L "$db" ]; then echo "bg: cannot undo: $db and $db.OLD are not as share-db left them" >&2; exit 1
    fi
  done
  if [ -f "$sd/shared" ]; then
    rm -f "$shared.bg-tmp" "$shared.bg-tmp-wal" "$shared.bg-tmp-shm" "$shared.bg-tmp-journal"
    if [ -f "$shared" ] && [ -f "$sd/started" ]; then
      bg_sql "$shared" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null || exit 1
      kept="$shared.rolled-back-$runid"; [ ! -e "$kept" ] || kept="$kept.$(date +%s)"
      mv "$shared" "$kept" || exit 1; rm -f "$shared-wal" "$shared-shm"
      now=$(bg_counts "$kept" | tr '\n' ' '); was=$(tr '\n' ' ' < "$sd/counts" 2>/dev/null)
      echo "the shared database is kept as $kept"
      [ "$now" = "$was" ] || echo "rows per table there: $now (at the copy: $was): rows written while shared are only in $kept"
    elif [ -f "$shared" ]; then
      rm -f "$shared" "$shared-wal" "$shared-shm"; echo "removed $shared (no app had used it)"
    fi
  fi
}

# bg_share_undo_start: (share-db's undo, globals of bg_share_envs, bg_sh_wait) start the apps that were online before share-db, wait until pm2 has them online.
bg_share_undo_start() {
  for e in $envs; do
    grep -qx "$e online" "$sd/apps" || continue
    a=$(app_of "$e")
    bg_pm2_procs "$a" | grep -q ' online ' || pm2 start "$a" >/dev/null || exit 1
    bg_pm2_wait_online "$a" "$bg_sh_wait" || exit 1
    echo "$e: $a online on $(db_of "$e")"
  done
}

# bg_share_discard RUNID TABLE COLUMN SD SHARED NAME DB APP HEALTH...: the rows written to SHARED while shared that the base's own database lacks.
bg_share_discard() {
  runid=$1; bg_sh_t=$2; bg_sh_c=$3; shift 3; bg_share_envs "$@"
  [ -f "$sd/started" ] && [ -f "$sd/base" ] && [ -f "$shared" ] || exit 0
  base=$(cat "$sd/base"); old="$(db_of "$base").OLD"
  [ -f "$old" ] || exit 0
  x=$(bg_extra "$old" "$shared" "$bg_sh_t" "$bg_sh_c") || exit 1
  [ -z "$x" ] || echo "rows written to $shared while the envs shared it, not in $base's own database: $(printf '%s\n' "$x" | sed 's/|/ /' | tr '\n' ',' | sed 's/,$//; s/,/, /g') (the shared database is kept as $shared.rolled-back-$runid)"
}

# bg_share_ready SHARED NAME DB APP HEALTH...: pre-flight: own database files, no .OLD beside them, no SHARED yet, room for the copy.
bg_share_ready() {
  bg_share_envs '' "$@"
  need=0
  for e in $envs; do
    db=$(db_of "$e")
    [ -f "$db" ] && [ ! -L "$db" ] || { echo "bg: $db ($e) is not a regular file: already shared?" >&2; exit 1; }
    [ ! -e "$db.OLD" ] && [ ! -L "$db.OLD" ] || { echo "bg: $db.OLD exists: move it away first" >&2; exit 1; }
    n=$(( $(wc -c < "$db") + $( [ -f "$db-wal" ] && wc -c < "$db-wal" || echo 0) )); [ "$n" -le "$need" ] || need=$n
  done
  [ ! -e "$shared" ] && [ ! -L "$shared" ] || { echo "bg: the shared database $shared already exists" >&2; exit 1; }
  d=$(dirname "$shared"); while [ ! -d "$d" ]; do d=$(dirname "$d"); done
  avail=$(($(df -Pk "$d" | awk 'NR==2 { print $4 }') * 1024))
  [ "$avail" -gt "$need" ] || { echo "bg: $avail bytes free in $d; the shared copy needs $need" >&2; exit 1; }
  echo "ready: $avail bytes free in $d, the copy needs at most $need"
}
