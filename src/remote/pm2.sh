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
