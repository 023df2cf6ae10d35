# shellcheck shell=sh
# pm2 apps, read through `pm2 jlist` parsed with the host's node; a read never starts a pm2 daemon.

# bg_pm2_procs APP: "pid status restarts" per pm2 process of APP; never starts a pm2 daemon; 3 when pm2 cannot answer.
bg_pm2_procs() {
  command -v pm2 >/dev/null 2>&1 || { echo "bg: pm2 is not on PATH (set the host's path: or environment:)" >&2; return 3; }
  bg_h=${PM2_HOME:-$HOME/.pm2}; bg_d=$(cat "$bg_h/pm2.pid" 2>/dev/null)
  case $bg_d in ''|*[!0-9]*) bg_d=;; esac
  if [ -z "$bg_d" ] || [ ! -d "/proc/$bg_d" ] || [ ! -S "$bg_h/rpc.sock" ]; then echo "bg: pm2 daemon not running for PM2_HOME=$bg_h (check PM2_HOME in the host's environment:)" >&2; return 3; fi
  if command -v timeout >/dev/null 2>&1; then bg_j=$(timeout --foreground -k 5 30 pm2 jlist 2>/dev/null); else bg_j=$(pm2 jlist 2>/dev/null); fi
  bg_rc=$?; [ "$bg_rc" -eq 0 ] || { [ "$bg_rc" -eq 124 ] && echo "bg: pm2 jlist did not answer within 30 s (bound: the pm2 probe's timeout; PM2_HOME=$bg_h)" >&2 || echo "bg: pm2 jlist failed (exit $bg_rc, PM2_HOME=$bg_h)" >&2; return 3; }
  printf '%s\n' "$bg_j" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const l=s.split("\n").reverse().find(x=>/^\s*\[(\{|\])/.test(x));if(l===undefined){console.error("bg: pm2 jlist printed no process list");process.exit(3)}let a;try{a=JSON.parse(l)}catch(e){console.error("bg: cannot parse pm2 jlist: "+e.message);process.exit(3)}for(const p of a){if(p.name!==process.argv[1])continue;const e=p.pm2_env||{};console.log((p.pid||0)+" "+(e.status||"unknown")+" "+(e.restart_time||0))}})' -- "$1"
}

# bg_pm2_wait_online APP SECONDS: until APP has processes and all are online.
bg_pm2_wait_online() {
  bg_n=$(( $2 * 5 ))
  while :; do
    bg_p=$(bg_pm2_procs "$1") || return 1
    if [ -n "$bg_p" ] && ! printf '%s\n' "$bg_p" | grep -qv ' online '; then return 0; fi
    bg_n=$((bg_n - 1))
    [ "$bg_n" -gt 0 ] || { echo "bg: pm2 app $1 is not online after $2 s (pid status restarts: $(printf '%s' "$bg_p" | tr '\n' ';'))" >&2; return 1; }
    sleep 0.2
  done
}

# bg_pm2_known APP: pm2 knows APP (bg starts, stops and restarts apps; it never creates them); prints its processes' states.
bg_pm2_known() {
  procs=$(bg_pm2_procs "$1") || exit 1
  [ -n "$procs" ] || { echo "bg: pm2 knows no app named $1 (check PM2_HOME in the host's environment:)" >&2; exit 1; }
  printf '%s: %s\n' "$1" "$(printf '%s\n' "$procs" | awk '{ print $2 }' | sort | uniq -c | awk '{ printf "%s%s %s", (n++ ? ", " : ""), $1, $2 }')"
}

# bg_pm2_capture SD APP: record APP's pm2 processes in SD/pm2-before (APP must be known to pm2).
bg_pm2_capture() {
  mkdir -p "$1"
  procs=$(bg_pm2_procs "$2") || exit 1
  [ -n "$procs" ] || { echo "bg: pm2 knows no app named $2 (bg does not create pm2 apps: start it once with pm2 start)" >&2; exit 1; }
  printf '%s\n' "$procs" > "$1/pm2-before"
}

# bg_pm2_op OP APP [--update-env]: pm2 OP APP (restart, reload, stop, start).
bg_pm2_op() {
  pm2 "$1" "$2" ${3:+"$3"} >/dev/null || exit 1
  echo "pm2 $1 $2${3:+ $3}: done"
}

# bg_pm2_check_stopped APP: every process of APP is stopped.
bg_pm2_check_stopped() {
  procs=$(bg_pm2_procs "$1") || exit 1
  bad=$(printf '%s\n' "$procs" | awk '$2 != "stopped"')
  [ -z "$bad" ] || { echo "bg: $1 is not stopped yet (pid status restarts: $bad)" >&2; exit 1; }
  echo "$1 stopped"
}

# bg_pm2_check_restarted SD APP: every process of APP is online with a pid other than those in SD/pm2-before (saved as SD/pm2-after).
bg_pm2_check_restarted() {
  old=" $(awk '$2 == "online" { print $1 }' "$1/pm2-before" | tr '\n' ' ')"
  procs=$(bg_pm2_procs "$2") || exit 1
  [ -n "$procs" ] || { echo "bg: pm2 lists no process of $2" >&2; exit 1; }
  bad=$(printf '%s\n' "$procs" | BG_OLD="$old" awk '$2 != "online" || $1 == 0 || index(ENVIRON["BG_OLD"], " " $1 " ") { print }')
  [ -z "$bad" ] || { echo "bg: $2 is not online with a new pid yet (pid status restarts: $bad)" >&2; exit 1; }
  # What the step left: its undo restarts again only if nothing else has since.
  printf '%s\n' "$procs" > "$1/pm2-after"
  echo "$2 online, pid $(printf '%s\n' "$procs" | awk '{ print $1 }' | tr '\n' ' ')"
}

# bg_pm2_check_stable APP SECONDS: APP's pids and restart counts do not change for SECONDS, all online.
bg_pm2_check_stable() {
  a=$(bg_pm2_procs "$1") || exit 1
  sleep "$2"
  b=$(bg_pm2_procs "$1") || exit 1
  [ "$a" = "$b" ] || { echo "bg: $1 did not stay up: within $2 s pm2 went from [$(printf '%s' "$a" | tr '\n' ' ')] to [$(printf '%s' "$b" | tr '\n' ' ')] (pid status restarts): it restarts after starting" >&2; exit 1; }
  ! printf '%s\n' "$b" | grep -qv ' online ' || { echo "bg: $1 is not online: $(printf '%s' "$b" | tr '\n' ' ')" >&2; exit 1; }
  echo "$1 stayed online for $2 s, restart count unchanged"
}

# bg_pm2_undo_restart SD APP SECONDS [--update-env]: restart APP once more (after the other undos), unless one of them did.
bg_pm2_undo_restart() {
  [ -f "$1/pm2-before" ] || { echo "nothing to undo: the step never started"; exit 0; }
  now=$(bg_pm2_procs "$2") || exit 1
  # Pids other than the ones this step left: an earlier undo (env-set's) restarted it already.
  if [ -f "$1/pm2-after" ] && [ -n "$now" ] && [ "$(awk '{ print $1 }' "$1/pm2-after")" != "$(printf '%s\n' "$now" | awk '{ print $1 }')" ]; then echo "$2 was restarted since this step: nothing to do"; exit 0; fi
  pm2 restart "$2" ${4:+"$4"} >/dev/null || exit 1
  bg_pm2_wait_online "$2" "$3" || exit 1
  echo "restarted $2 again: it runs on what the other undos put back"
}

# bg_pm2_undo_stop SD APP SECONDS: start APP again if it was online before the step.
bg_pm2_undo_stop() {
  [ -f "$1/pm2-before" ] || { echo "nothing to undo: the step never started"; exit 0; }
  grep -q ' online ' "$1/pm2-before" || { echo "$2 was not online before: left stopped"; exit 0; }
  pm2 start "$2" >/dev/null || exit 1
  bg_pm2_wait_online "$2" "$3" || exit 1
  echo "started $2 again"
}

# bg_pm2_undo_start SD APP: stop APP again if it was not online before the step.
bg_pm2_undo_start() {
  [ -f "$1/pm2-before" ] || { echo "nothing to undo: the step never started"; exit 0; }
  ! grep -q ' online ' "$1/pm2-before" || { echo "$2 was already online (pm2 start restarted it): nothing to undo"; exit 0; }
  pm2 stop "$2" >/dev/null || exit 1
  echo "stopped $2 again"
}
