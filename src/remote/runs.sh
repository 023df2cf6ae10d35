# shellcheck shell=sh
# What a recorded run left on the host: its processes still running, the backups its undo needs.

# bg_live_sessions FILE: "PID ARGS" of every process still alive of the shells recorded in FILE ("PID STARTTIME" lines) and of their sessions.
bg_live_sessions() {
  [ -f "$1" ] || return 0
  {
    bg_ls_sids=' '
    while read -r bg_ls_pid bg_ls_start; do
      # The file is on the host: anything but "PID STARTTIME" in decimal is skipped, never used in a path or a pattern.
      case $bg_ls_pid$bg_ls_start in ''|*[!0-9]*) continue ;; esac
      # The recorded shell itself, if it is the same process (same start time: pids get reused) and
      # not a zombie (finished, waiting to be reaped).
      bg_ls_st=$(cut -d' ' -f3,22 "/proc/$bg_ls_pid/stat" 2>/dev/null)
      [ "${bg_ls_st#* }" = "$bg_ls_start" ] && [ "${bg_ls_st%% *}" != Z ] && ps -o pid=,args= -p "$bg_ls_pid"
      bg_ls_sids="$bg_ls_sids$bg_ls_pid "
    done < "$1"
    # Whatever still runs in their sessions (over SSH every command is a session of its own): one
    # look at the process table for all of them.
    [ "$bg_ls_sids" = ' ' ] || ps -e -o pid=,sid=,stat=,args= 2>/dev/null | awk -v s="$bg_ls_sids" 'index(s, " " $2 " ") && !index(s, " " $1 " ") && $3 !~ /^Z/ { $2 = ""; $3 = ""; print }'
  # One readable line per process: the start of its command line is enough to recognise it.
  } | sort -u | cut -c1-160
}

# bg_undo_missing STEPS RECORD N...: "N PATH" for each step N whose STEPS/N/RECORD (or RECORD.NAME, another database of dbs:) names a backup PATH that is not there.
bg_undo_missing() {
  (
    cd "$1" 2>/dev/null || exit 0
    bg_um_r=$2; shift 2
    for bg_um_n in "$@"; do
      for bg_um_f in "$bg_um_n/$bg_um_r" "$bg_um_n/$bg_um_r".*; do
        [ -f "$bg_um_f" ] || continue
        # The whole record: a backups directory may hold a newline. Shown on one line (newlines as spaces).
        bg_um_b=$(cat "$bg_um_f"); [ -z "$bg_um_b" ] || [ -f "$bg_um_b" ] || printf '%s %s\n' "$bg_um_n" "$(printf '%s' "$bg_um_b" | tr '\n' ' ')"
      done
    done
  )
}
