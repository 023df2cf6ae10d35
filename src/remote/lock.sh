# shellcheck shell=sh
# The per-host lock: a directory renamed into place whole with its holder's info inside (see src/run/lock.ts).

# bg_lock_take LOCK INFO: create the lock directory LOCK whole, with file INFO (read from stdin) inside; 3, printing the holder's INFO, when another run holds it.
bg_lock_take() {
  bg_lk_d=$1; bg_lk_t="$1.new.$$"
  mkdir -p "$(dirname -- "$bg_lk_d")" || return 1
  rm -rf "$bg_lk_t"; mkdir "$bg_lk_t" || return 1
  { cat > "$bg_lk_t/$2" && sync "$bg_lk_t/$2"; } || { rm -rf "$bg_lk_t"; echo "bg: cannot write the lock's info in $bg_lk_t (disk full?)" >&2; return 1; }
  # -T: never move into an existing lock directory; an empty one (left by an older bg) is replaced.
  # The holder may release between our rename and our look at its lock: then try again.
  bg_lk_i=0
  while :; do
    mv -T "$bg_lk_t" "$bg_lk_d" 2>/dev/null && return 0
    bg_lk_info=$(cat "$bg_lk_d/$2" 2>/dev/null)
    if [ -d "$bg_lk_d" ]; then rm -rf "$bg_lk_t"; printf '%s\n' "$bg_lk_info"; return 3; fi
    bg_lk_i=$((bg_lk_i + 1))
    [ "$bg_lk_i" -lt 5 ] || { rm -rf "$bg_lk_t"; echo "bg: cannot create the lock $bg_lk_d" >&2; return 1; }
  done
}

# bg_lock_read LOCK INFO: the holder's INFO (empty when unreadable) while LOCK exists; 1 when the host is not locked.
bg_lock_read() { [ -d "$1" ] || return 1; cat "$1/$2" 2>/dev/null; return 0; }

# bg_lock_remove LOCK INFO [RUNID]: remove LOCK (renamed away first, then deleted); with RUNID, only while its INFO names that run (else 3).
bg_lock_remove() {
  if [ $# -ge 3 ]; then grep -qF -e "\"runId\":\"$3\"" "$1/$2" 2>/dev/null || return 3; fi
  [ -e "$1" ] || return 0
  # `rm -rf` of the lock itself would leave it empty for a moment, and an empty lock can be
  # replaced by another run's rename while rm still works on it.
  bg_lk_g="$1.gone.$$" && mv -T "$1" "$bg_lk_g" && rm -rf "$bg_lk_g"
}
