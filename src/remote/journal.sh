# shellcheck shell=sh
# The run's journal on the host (src/run/journal-layout.ts names the files): run.json with the
# plan, meta.json, the host's run sequence and the event log. The step runner (step.sh) writes a
# step's own events; these are the run's.

# bg_journal_start RUNDIR META: run.json (the plan, from stdin), meta.json (META) and the run's number, all fsynced before run.json appears.
bg_journal_start() {
  mkdir -p "$1" && cat > "$1/run.json.tmp" && bg_journal_seq "$1" && printf '%s\n' "$2" > "$1/meta.json" &&
    sync "$1/run.json.tmp" "$1/meta.json" "$1/seq" && mv "$1/run.json.tmp" "$1/run.json"
}

# bg_journal_seq RUNDIR: the next number of the host's run sequence into JOURNAL/seq (tmp + fsync + rename) and RUNDIR/seq; a missing or damaged counter is rebuilt from the highest any run recorded.
bg_journal_seq() {
  # RUNDIR is JOURNAL/runs/ID.
  bg_js_j=$(dirname -- "$(dirname -- "$1")")
  bg_js_c=$(cat "$bg_js_j/seq" 2>/dev/null)
  case $bg_js_c in ''|*[!0-9]*) bg_js_c=$(cat "$bg_js_j"/runs/*/seq 2>/dev/null | grep -x '[0-9][0-9]*' | sort -n | tail -n 1) ;; esac
  # Leading zeros would make $(( )) read the number as octal.
  bg_js_c=${bg_js_c#"${bg_js_c%%[!0]*}"}
  bg_js_n=$((${bg_js_c:-0} + 1))
  printf '%s\n' "$bg_js_n" > "$bg_js_j/seq.tmp" && sync "$bg_js_j/seq.tmp" && mv -f "$bg_js_j/seq.tmp" "$bg_js_j/seq" && printf '%s\n' "$bg_js_n" > "$1/seq"
}

# bg_journal_append LOG FIELDS...: one line '{"t":"<host's UTC time>",FIELDS}' per FIELDS (JSON members built by bg), then fsync.
bg_journal_append() {
  bg_ja_log=$1; shift
  bg_ja_t=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  for bg_ja_f in "$@"; do printf '{"t":"%s",%s}\n' "$bg_ja_t" "$bg_ja_f"; done >> "$bg_ja_log" && sync "$bg_ja_log"
}
