# shellcheck shell=sh
# Which processes have a file open (/proc/PID/fd, by inode), and waiting until none has.

# bg_holders FILE: pids (space-separated) of the processes that have FILE open, compared by inode.
bg_holders() { [ -e "$1" ] || return 0; for bg_hp in $(find -L /proc/[0-9]*/fd -maxdepth 1 -samefile "$1" 2>/dev/null | cut -d/ -f3 | sort -un); do [ ! -d "/proc/$bg_hp" ] || printf '%s ' "$bg_hp"; done; }

# bg_describe_pids PID...: "  PID: command line" per process (for messages).
bg_describe_pids() { for bg_pid in "$@"; do printf '  %s: %s\n' "$bg_pid" "$(tr '\0' ' ' < /proc/"$bg_pid"/cmdline 2>/dev/null)"; done; }

# bg_wait_released SECONDS FILE...: until no process has any FILE open; else names the holders and returns 1.
bg_wait_released() {
  bg_n=$(( $1 * 5 )); shift
  while :; do
    bg_h=''
    for bg_f in "$@"; do bg_h="$bg_h$(bg_holders "$bg_f")"; done
    [ -n "$bg_h" ] || return 0
    bg_n=$((bg_n - 1))
    if [ "$bg_n" -le 0 ]; then
      echo "bg: still open by process(es) $bg_h: $*" >&2
      # shellcheck disable=SC2086 # one argument per pid
      bg_describe_pids $bg_h >&2
      return 1
    fi
    sleep 0.2
  done
}
