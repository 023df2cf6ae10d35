# shellcheck shell=sh
# The host side of one step: its commands, retries, journal lines and process record in one
# invocation (one round trip). Events go to stdout as lines "NONCE WORD ..."; each command's own
# output goes to files and travels base64-encoded, so no output can pass for an event. The step
# goes on and journals its outcome when the connection that started it drops.

# bg_now_ms: sets bg_ms to milliseconds since boot (Linux /proc/uptime, 10 ms resolution; builtins only: durations, no fork).
bg_now_ms() {
  bg_ms=0
  read -r bg_up _ < /proc/uptime 2>/dev/null || return 0
  # A fraction "08" would read as octal in $(( )): its leading zero goes first.
  case $bg_up in
    *.0[0-9]) bg_ms=$(( ${bg_up%.*} * 1000 + 10 * ${bg_up#*.0} )) ;;
    *.[1-9][0-9]) bg_ms=$(( ${bg_up%.*} * 1000 + 10 * ${bg_up#*.} )) ;;
  esac
}

# bg_ms_secs MS: sets bg_secs to MS as seconds for sleep (e.g. 1500 -> 1.500).
bg_ms_secs() { bg_secs=$(($1 / 1000)).$(($1 % 1000 / 100))$(($1 % 100 / 10))$(($1 % 10)); }

# bg_proc_stat: sets bg_pg and bg_start to this shell's process group and start time (fields 5 and 22 of /proc/PID/stat, counted after the command name, which may hold spaces).
bg_proc_stat() {
  bg_pg='' bg_start=''
  read -r bg_ps < /proc/$$/stat || return 0
  # shellcheck disable=SC2086 # split into its fields on purpose (numbers and a state letter)
  set -- ${bg_ps##*) }
  bg_pg=$3 bg_start=${20}
}

# bg_step_emit WORD...: one event line on stdout; a connection that is gone is not the step's failure (SIGPIPE is caught: the write just fails).
bg_step_emit() { printf '%s %s\n' "$bg_st_nonce" "$*" 2>/dev/null || :; }

# bg_b64 FILE: FILE base64-encoded on one line (nothing for an empty file, without starting base64).
bg_b64() { if [ -s "$1" ]; then base64 -w0 < "$1"; fi; }

# bg_step_journal EVENT SYNC [DETAIL]: append EVENT of this step to the run's log (fsynced when SYNC is 1); DETAIL is bg's own words.
bg_step_journal() {
  bg_sj_t=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  if [ -n "${3-}" ]; then
    printf '{"t":"%s","event":"%s","step":%s,"detail":"%s"}\n' "$bg_sj_t" "$1" "$bg_st_step" "$3" >> "$bg_st_dir/log" || return 1
  else
    printf '{"t":"%s","event":"%s","step":%s}\n' "$bg_sj_t" "$1" "$bg_st_step" >> "$bg_st_dir/log" || return 1
  fi
  [ "$2" != 1 ] || sync "$bg_st_dir/log"
}

# bg_step_exec PHASE N ATTEMPT TIMEOUT_MS CMD: run CMD in a subshell under a watchdog; sets bg_st_rc, emits a "cmd" event.
bg_step_exec() {
  bg_se_out="$bg_st_tmp/$1.$2.out"; bg_se_err="$bg_st_tmp/$1.$2.err"
  bg_se_fired="$bg_st_tmp/$1.$2.fired"
  [ ! -e "$bg_se_fired" ] || rm -f "$bg_se_fired"
  bg_now_ms; bg_se_t0=$bg_ms
  bg_ms_secs "$4"
  # The watchdog: after TIMEOUT_MS it marks the timeout and sends TERM to the step's process group
  # (the command and its children; this shell traps it). In a session of its own, so that it never
  # counts as part of the run, and killed whole (KILL to its group) when the command ends first.
  # (`kill -SIG -PGID` without `--`: the form both dash and bash take.)
  # shellcheck disable=SC2016 # the watchdog's own arguments
  setsid sh -c 'sleep "$1" && : > "$2" && kill -TERM "-$3"' bg-watchdog "$bg_secs" "$bg_se_fired" "$bg_pg" > /dev/null 2>&1 &
  bg_se_wd=$!
  # In the foreground, so that a Ctrl-C (INT to the process group) stops it as before.
  ( eval "$5" ) > "$bg_se_out" 2> "$bg_se_err" < /dev/null
  bg_st_rc=$?
  kill -KILL "-$bg_se_wd" 2>/dev/null || kill -KILL "$bg_se_wd" 2>/dev/null; wait "$bg_se_wd" 2>/dev/null
  bg_se_how='exit'
  if [ -e "$bg_se_fired" ] && [ "$bg_st_rc" != 0 ]; then bg_se_how=timeout; bg_st_sig=
  elif [ -n "$bg_st_sig" ] && [ "$bg_st_rc" != 0 ]; then bg_se_how=$bg_st_sig
  fi
  [ -e "$bg_se_fired" ] && [ "$bg_st_sig" = TERM ] && bg_st_sig=
  bg_now_ms
  bg_step_emit cmd "$1" "$2" "$3" "$bg_st_rc" "$((bg_ms - bg_se_t0))" "$bg_se_how" "$(bg_b64 "$bg_se_out")" "$(bg_b64 "$bg_se_err")"
  bg_st_how=$bg_se_how
}

# bg_step_done_out: remove the step's output files: their content went out in the events, and a command may print a secret.
bg_step_done_out() { rm -rf "$bg_st_tmp"; [ "$bg_st_mode" = checks ] || rmdir "$bg_st_dir/out" 2>/dev/null || :; }

# bg_step_checks ENTRY...: run every "check TIMEOUT_MS CMD" entry at once (read-only: each in the background), then emit their events in order and the end.
bg_step_checks() {
  bg_sc_n=0
  while [ $# -ge 3 ]; do
    bg_sc_n=$((bg_sc_n + 1))
    # Each writes its event to a file of its own: lines of several writers never interleave.
    ( bg_step_exec check "$bg_sc_n" 1 "$2" "$3" > "$bg_st_tmp/ev.$bg_sc_n"; echo "$bg_st_rc" > "$bg_st_tmp/rc.$bg_sc_n" ) &
    shift 3
  done
  # A trapped signal (Ctrl-C) ends `wait` early: wait again until every check has ended.
  until wait; do :; done
  bg_sc_i=0 bg_st_failed=0
  while [ "$bg_sc_i" -lt "$bg_sc_n" ]; do
    bg_sc_i=$((bg_sc_i + 1))
    cat "$bg_st_tmp/ev.$bg_sc_i" 2>/dev/null
    [ "$(cat "$bg_st_tmp/rc.$bg_sc_i" 2>/dev/null)" = 0 ] || bg_st_failed=$((bg_st_failed + 1))
  done
  bg_step_done_out
  if [ "$bg_st_failed" != 0 ]; then bg_step_emit end failed - 0 "$bg_st_failed" exit; return 1; fi
  bg_step_emit end ok - 0 0 exit
}

# bg_step MODE RUNDIR STEP JOURNAL NONCE ENTRY...: run one step's entries in order and journal it (MODE step or undo; JOURNAL 1 for a changing step).
# An ENTRY is "capture|run|undo|check TIMEOUT_MS CMD" or "verify TIMEOUT_MS DELAYS CMD" (DELAYS: comma-separated waits before each retry, "-" for none).
# MODE checks (pre-flight, before the run has a directory: RUNDIR -, JOURNAL 0) runs every entry at once, also when one fails.
bg_step() {
  bg_st_mode=$1 bg_st_dir=$2 bg_st_step=$3 bg_st_journal=$4 bg_st_nonce=$5; shift 5
  bg_st_sig=
  # Caught, not ignored: the commands get the default dispositions back. INT and TERM come from
  # bg (Ctrl-C, its timeout): the running command gets them too and the step ends failed. A
  # connection that drops sends nothing (no terminal): the step runs on; writing to it is no error.
  trap 'bg_st_sig=INT' INT
  trap 'bg_st_sig=TERM' TERM
  trap : HUP PIPE
  if [ "$bg_st_mode" = undo ]; then bg_st_begin=undo-start bg_st_ok=undone bg_st_bad=undo-failed
  else bg_st_begin=step-start bg_st_ok=step-done bg_st_bad=step-failed; fi
  bg_st_tmp="$bg_st_dir/out/$bg_st_step.$bg_st_mode"
  if [ "$bg_st_mode" = checks ]; then bg_st_tmp=$(mktemp -d "${TMPDIR:-/tmp}/bg-checks.XXXXXX") || { bg_step_emit end failed journal 0 1 nodir; return 1; }; fi
  bg_proc_stat
  # The run's directory is made with its journal (run.json): never made here.
  if [ "$bg_st_mode" != checks ] && { [ ! -d "$bg_st_dir" ] || ! mkdir -p "$bg_st_tmp"; }; then bg_step_emit end failed journal 0 1 nodir; return 1; fi
  if [ "$bg_st_journal" = 1 ]; then
    # Who runs the step, for `bg unlock` and `bg rollback` ("PID STARTTIME": pids are reused).
    printf '%s %s\n' "$$" "$bg_start" >> "$bg_st_dir/sessions" 2>/dev/null
    # On disk before anything changes; without it nothing runs.
    bg_step_journal "$bg_st_begin" 1 || { bg_step_emit end failed journal 0 1 nojournal; return 1; }
  fi
  bg_step_emit start "$$"
  bg_st_n=0 bg_st_failed=0
  if [ "$bg_st_mode" = checks ]; then bg_step_checks "$@"; return; fi
  while [ $# -gt 0 ]; do
    bg_st_phase=$1 bg_st_n=$((bg_st_n + 1)) bg_st_attempt=1
    if [ "$bg_st_phase" = verify ]; then bg_st_to=$2 bg_st_delays=$3 bg_st_cmd=$4; shift 4
    else bg_st_to=$2 bg_st_delays=- bg_st_cmd=$3; shift 3; fi
    while :; do
      if [ -n "$bg_st_sig" ]; then bg_st_rc=130 bg_st_how=$bg_st_sig; bg_step_emit skipped "$bg_st_phase" "$bg_st_n" "$bg_st_attempt" "$bg_st_sig"; break; fi
      bg_step_exec "$bg_st_phase" "$bg_st_n" "$bg_st_attempt" "$bg_st_to" "$bg_st_cmd"
      [ "$bg_st_rc" != 0 ] || break
      # Only a verify probe is retried, by its policy's list of waits; never after a signal.
      if [ "$bg_st_delays" = - ] || [ -n "$bg_st_sig" ]; then break; fi
      bg_st_wait=${bg_st_delays%%,*}
      case $bg_st_delays in *,*) bg_st_delays=${bg_st_delays#*,} ;; *) bg_st_delays=- ;; esac
      bg_step_emit wait "$bg_st_phase" "$bg_st_n" "$bg_st_attempt" "$bg_st_wait"
      bg_ms_secs "$bg_st_wait"; sleep "$bg_secs"
      bg_st_attempt=$((bg_st_attempt + 1))
    done
    if [ "$bg_st_rc" != 0 ] && [ "$bg_st_mode" = checks ]; then bg_st_failed=$((bg_st_failed + 1))
    elif [ "$bg_st_rc" != 0 ]; then
      bg_step_done_out
      bg_step_journal "$bg_st_bad" 1 "$bg_st_phase command $bg_st_n: $bg_st_how $bg_st_rc after $bg_st_attempt attempt(s)"
      bg_step_emit end failed "$bg_st_phase" "$bg_st_n" "$bg_st_rc" "$bg_st_how"
      return 1
    fi
  done
  bg_step_done_out
  if [ "$bg_st_failed" != 0 ]; then bg_step_emit end failed - 0 "$bg_st_failed" exit; return 1; fi
  # Not fsynced: a lost "done" only makes a rollback undo a step it would have undone anyway.
  [ "$bg_st_journal" != 1 ] || bg_step_journal "$bg_st_ok" 0
  bg_step_emit end ok - 0 0 exit
}
