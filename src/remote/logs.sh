# shellcheck shell=sh
# What `bg logs` reads: where pm2 writes an app's logs (never starting a daemon), and bounded reads of those files.
# bg reads the files rather than `pm2 logs --nostream`, which prints coloured headers to stdout,
# interleaves the two files unpredictably and exits 0 for an app it does not know.

# bg_log_paths APP: {"out":[...],"err":[...]}, the log files of APP's pm2 processes; 3 with a message when pm2 (its daemon) or APP is not there.
bg_log_paths() {
  bg_lp_procs=$(bg_pm2_procs "$1") || return 3
  [ -n "$bg_lp_procs" ] || { echo "bg: pm2 knows no app named $1 (check PM2_HOME in the host's environment:)" >&2; return 3; }
  # bg_pm2_procs has just checked that the daemon runs: this jlist starts none. Bounded like it.
  if command -v timeout >/dev/null 2>&1; then bg_lp_j=$(timeout --foreground -k 5 30 pm2 jlist 2>/dev/null); else bg_lp_j=$(pm2 jlist 2>/dev/null); fi || { echo "bg: pm2 jlist failed" >&2; return 3; }
  printf '%s\n' "$bg_lp_j" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const l=s.split("\n").reverse().find(x=>/^\s*\[(\{|\])/.test(x));if(l===undefined){console.error("bg: pm2 jlist printed no process list");process.exit(3)}const o=new Set(),e=new Set();for(const p of JSON.parse(l)){if(p.name!==process.argv[1])continue;const v=p.pm2_env||{};if(v.pm_out_log_path)o.add(v.pm_out_log_path);if(v.pm_err_log_path)e.add(v.pm_err_log_path)}console.log(JSON.stringify({out:[...o],err:[...e]}))})' -- "$1"
}

# bg_log_tail FILE LINES MAX_LINE: "@@size BYTES" (-1: no such file), then the last LINES lines of FILE as it was at that size, each cut at MAX_LINE bytes.
bg_log_tail() {
  case $2$3 in ''|*[!0-9]*) echo "bg: bg_log_tail: LINES and MAX_LINE must be numbers" >&2; return 2 ;; esac
  # Each line is cut on the host: one giant line (an app dumping a blob without a newline) must not travel whole.
  {
    if [ -f "$1" ]; then
      bg_lt_s=$(wc -c < "$1" | tr -d ' ')
      echo "@@size $bg_lt_s"
      head -c "$bg_lt_s" -- "$1" | tail -n "$2"
    else
      echo "@@size -1"
    fi
  } | cut -b "1-$3"
}

# bg_log_poll FILE OFFSET MAX: "@@size BYTES ROTATED SKIPPED", what FILE holds after byte OFFSET (at most the newest MAX bytes; SKIPPED before them), then "@@end"; ROTATED 1: FILE shrank below OFFSET and is read from its start.
bg_log_poll() {
  case $2$3 in ''|*[!0-9]*) echo "bg: bg_log_poll: OFFSET and MAX must be numbers" >&2; return 2 ;; esac
  [ -f "$1" ] || { echo "@@size -1 0 0"; return 0; }
  bg_lq_off=$2; bg_lq_rot=0; bg_lq_skip=0
  bg_lq_s=$(wc -c < "$1" | tr -d ' ')
  [ "$bg_lq_s" -ge "$bg_lq_off" ] || { bg_lq_rot=1; bg_lq_off=0; }
  bg_lq_n=$((bg_lq_s - bg_lq_off)); [ "$bg_lq_n" -le "$3" ] || { bg_lq_skip=$((bg_lq_n - $3)); bg_lq_off=$((bg_lq_s - $3)); bg_lq_n=$3; }
  echo "@@size $bg_lq_s $bg_lq_rot $bg_lq_skip"
  # `@@end` last: transports drop a final newline, which here is part of the log.
  [ "$bg_lq_n" -le 0 ] || tail -c +$((bg_lq_off + 1)) -- "$1" | head -c "$bg_lq_n"
  printf '@@end'
}
