# shellcheck shell=sh
# Framed reads: several host files in one round trip, each record behind a boundary B that is random per read (see src/run/framed-read.ts).

# bg_framed B FUNCTION ARG...: FUNCTION B ARG... in a subshell (a cd or a return there ends only it), then the terminator line of B.
bg_framed() { bg_fr_b=$1; bg_fr_f=$2; shift 2; ( "$bg_fr_f" "$bg_fr_b" "$@" ); printf '\n%s .\n' "$bg_fr_b"; }

# bg_frame_rec B KEY FILE: the record KEY: FILE's content (+), or that it is missing (-) or cannot be read (!).
bg_frame_rec() { if [ -e "$3" ]; then printf '\n%s %s +\n' "$1" "$2"; cat -- "$3" 2>/dev/null || printf '\n%s %s !\n' "$1" "$2"; else printf '\n%s %s -\n' "$1" "$2"; fi; }

# bg_frame_has B KEY FILE: the record KEY without content: whether FILE exists (+ or -).
bg_frame_has() { if [ -e "$3" ]; then printf '\n%s %s +\n' "$1" "$2"; else printf '\n%s %s -\n' "$1" "$2"; fi; }

# bg_runs_list B RUNS SEQ RUNJSON: for each run directory in RUNS, the record ID/SEQ (its content) and ID/RUNJSON (whether it exists); run under bg_framed.
bg_runs_list() {
  cd "$2" 2>/dev/null || return 0
  for bg_rl_d in *; do
    # The directory names are the host's: anything but a run id's characters is skipped, never used as a key.
    case $bg_rl_d in *[!0-9A-Za-z.-]*) continue ;; esac
    [ -d "$bg_rl_d" ] || continue
    bg_frame_rec "$1" "$bg_rl_d/$3" "$bg_rl_d/$3"
    bg_frame_has "$1" "$bg_rl_d/$4" "$bg_rl_d/$4"
  done
}

# bg_read_files B DIR FILE...: the record FILE (its content) of each FILE, relative to DIR, in order; run under bg_framed.
bg_read_files() {
  bg_rf_b=$1; cd "$2" || return 0; shift 2
  for bg_rf_f in "$@"; do bg_frame_rec "$bg_rf_b" "$bg_rf_f" "$bg_rf_f"; done
}
