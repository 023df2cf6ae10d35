# shellcheck shell=sh
# Read-only pre-flight checks: tools present, directories and databases in place, free space, sqlite3 new enough.

# bg_tool TOOL VERSION_ARG: TOOL is on PATH; prints the first line of `TOOL VERSION_ARG`.
bg_tool() { command -v "$1" >/dev/null && "$1" "$2" | head -n 1; }

# bg_dir_exists DIR: DIR is a directory (else says so on stderr).
bg_dir_exists() { test -d "$1" || { printf 'bg: no directory %s\n' "$1" >&2; return 1; }; }

# bg_quick_ok FILE MISSING: FILE exists (else MISSING on stderr) and PRAGMA quick_check prints ok.
bg_quick_ok() {
  test -f "$1" || { printf '%s\n' "$2" >&2; return 1; }
  bg_qc=$(bg_sql "$1" 'PRAGMA quick_check' 2>&1)
  [ "$bg_qc" = ok ] || { printf 'bg: quick_check: %s\n' "$bg_qc" >&2; return 1; }
  echo ok
}

# bg_db_intact DB: DB exists and PRAGMA quick_check prints ok.
bg_db_intact() { bg_quick_ok "$1" 'bg: database not found'; }

# bg_space_for DIR DB...: the filesystem of DIR (or its nearest existing parent) has more free than twice the DBs with their -wal files.
bg_space_for() {
  bg_sf_d=$1; shift; bg_sf_need=0
  # A -wal file comes and goes as connections open and close: one that vanished meanwhile counts as empty.
  for bg_sf_f in "$@"; do
    for bg_sf_g in "$bg_sf_f" "$bg_sf_f-wal"; do bg_sf_s=$(wc -c 2>/dev/null < "$bg_sf_g") || bg_sf_s=0; bg_sf_need=$((bg_sf_need + ${bg_sf_s:-0})); done
  done
  bg_sf_need=$((bg_sf_need * 2))
  # The backups directory may not exist yet: measure the filesystem of its nearest existing parent.
  while [ ! -d "$bg_sf_d" ]; do bg_sf_d=$(dirname -- "$bg_sf_d"); done
  bg_sf_avail=$(($(df -Pk -- "$bg_sf_d" | awk 'NR==2 {print $4}') * 1024))
  [ "$bg_sf_avail" -gt "$bg_sf_need" ] || { echo "bg: $bg_sf_avail bytes free in $bg_sf_d, backups need twice the databases: $bg_sf_need" >&2; return 1; }
  echo "$bg_sf_avail bytes free, $bg_sf_need needed"
}

# bg_sqlite_check NONE_MSG [STEP NAME N [VERSION_NUM TEXT]×N]...: sqlite3 is new enough for every step; else one line per step that needs more (NONE_MSG: no sqlite3).
# shellcheck disable=SC2154 # bg_sv, bg_sv_num, bg_sv_path and bg_sv_out are set by bg_sqlite_version
bg_sqlite_check() {
  bg_sc_none=$1; shift
  bg_sqlite_version; bg_sc_rc=$?
  [ "$bg_sc_rc" != 1 ] || { printf '%s\n' "$bg_sc_none" >&2; return 1; }
  [ "$bg_sc_rc" = 0 ] || { printf 'bg: cannot read the version of %s from its --version output: %s\n' "$bg_sv_path" "$bg_sv_out" >&2; return 1; }
  bg_sc_bad=0
  while [ $# -ge 3 ]; do
    bg_sc_step=$1; bg_sc_name=$2; bg_sc_n=$3; shift 3; bg_sc_m=''
    while [ "$bg_sc_n" -gt 0 ] && [ $# -ge 2 ]; do
      [ "$bg_sv_num" -ge "$1" ] || bg_sc_m="${bg_sc_m:+$bg_sc_m, }$2"
      shift 2; bg_sc_n=$((bg_sc_n - 1))
    done
    [ -z "$bg_sc_m" ] || { printf 'step %s (%s) needs sqlite3 %s; the host has %s (%s)\n' "$bg_sc_step" "$bg_sc_name" "$bg_sc_m" "$bg_sv" "$bg_sv_path" >&2; bg_sc_bad=1; }
  done
  [ "$bg_sc_bad" = 0 ] || return 1
  echo "sqlite3 $bg_sv ($bg_sv_path)"
}
