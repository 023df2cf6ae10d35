# shellcheck shell=sh
# Backups of an env's SQLite database: a consistent online copy, its verification, and pruning.

# bg_backup SRC DIR DST: copy SRC to DST with VACUUM INTO (counts equal before and after, else inside one snapshot), counts in DST.counts.
bg_backup() {
  set -e
  src=$1; dir=$2; dst=$3
  test -f "$src" || { echo "bg: database $src does not exist" >&2; exit 1; }
  mkdir -p "$dir"
  n=0
  while :; do
    rm -f "$dst.tmp"
    if [ "$n" -ge 2 ]; then
      # Writes keep coming: copy inside one read transaction that also reads the counts.
      before=$(bg_snapshot_copy "$src" "$dst.tmp")
      break
    fi
    before=$(bg_counts "$src")
    bg_sql "$src" "VACUUM INTO $(bg_sqlq "$dst.tmp")"
    after=$(bg_counts "$src")
    [ "$before" != "$after" ] || break
    n=$((n + 1))
  done
  # VACUUM INTO does not fsync its output on older SQLite versions.
  sync "$dst.tmp"
  mv "$dst.tmp" "$dst"
  printf '%s\n' "$before" | bg_write_file "$dst.counts"
  echo "backed up $src to $dst"
}

# bg_backup_verify SRC DST: DST passes integrity_check and holds the counts of SRC at copy time (recorded in DST.verified).
bg_backup_verify() {
  src=$1; dst=$2
  check=$(bg_sql "$dst" "PRAGMA integrity_check")
  [ "$check" = ok ] || { bg_mark_verified "$dst" "failed: integrity_check"; echo "bg: integrity_check of $dst: $check" >&2; exit 1; }
  [ "$(bg_counts "$dst")" = "$(cat "$dst.counts")" ] || { bg_mark_verified "$dst" "failed: row counts differ"; echo "bg: row counts of $dst differ from $src at copy time" >&2; exit 1; }
  bg_mark_verified "$dst" ok
}

# bg_backup_prune DIR RUNS ENV SELF KEEP PATTERN [SUFFIX]: keep the newest KEEP backups of ENV matching PATTERN (by the host's run order; SUFFIX follows the run id in their names), never one an undo not yet run restores.
bg_backup_prune() {
  dir=$1; runs=$2; env=$3; self=$4; keep=$5; pattern=$6; bg_bp_sfx=${7:-}
  [ -d "$dir" ] || exit 0
  # Backups still needed, by file name (the directory may be spelled differently in the record).
  # `backup` records the default database's backup, `backup.NAME` another's (dbs:).
  needed=$(cd "$runs" 2>/dev/null && for f in */steps/*/backup */steps/*/backup.*; do
    [ -f "$f" ] || continue
    r=${f%%/*}; n=${f#*/steps/}; n=${n%%/*}
    case $n in ''|*[!0-9]*) continue ;; esac
    grep -q '"event":"undone","step":'"$n"'[,}]' "$r/log" 2>/dev/null && continue
    # The whole record (a backups directory may hold a newline); the file name is after its last slash.
    b=$(cat "$f"); printf '%s\n' "${b##*/}"
  done)
  # shellcheck disable=SC2010 # names are matched by PATTERN: no newline or odd character gets through
  ls -1 "$dir" | grep -E -- "$pattern" | grep -vxF -- "$self" | while IFS= read -r f; do
    id=${f#"$env-"}
    if [ -n "$bg_bp_sfx" ]; then id=${id%"$bg_bp_sfx"}; else id=${id%.db}; id=${id%.pgdump}; fi
    s=$(cat "$runs/$id/seq" 2>/dev/null); case $s in ''|*[!0-9]*) s=0 ;; esac
    printf '%s %s\n' "$s" "$f"
  done | sort -k1,1nr -k2,2r | tail -n +"$keep" | while read -r s f; do
    if printf '%s\n' "$needed" | grep -qxF -- "$f"; then echo "kept $dir/$f: an undo not yet run restores it"; continue; fi
    rm -f -- "$dir/$f" "$dir/$f.counts" "$dir/$f.verified" "$dir/$f.schema"; echo "pruned $dir/$f"
  done
}

# bg_backups_list DIR PATTERN: "@@now T", then per plain file in DIR whose name matches PATTERN (grep -E) "@@file NAME SIZE MTIME", its "@@count LINE"s (.counts) and "@@verified LINE" (.verified).
bg_backups_list() {
  echo "@@now $(date +%s)"
  [ -d "$1" ] || return 0
  (
    cd "$1" || exit 1
    # shellcheck disable=SC2010 # names are matched by PATTERN: no newline or odd character gets through
    ls -1 | grep -E -- "$2" | while IFS= read -r f; do
      # Plain files only: bg writes its backups so; a symlink may point anywhere (bg restore refuses it).
      if [ ! -f "$f" ] || [ -L "$f" ]; then continue; fi
      echo "@@file $f $(wc -c < "$f" | tr -d ' ') $(stat -c %Y "$f")"
      [ ! -f "$f.counts" ] || head -n 1000 "$f.counts" | sed 's/^/@@count /'
      [ ! -f "$f.verified" ] || head -n 1 "$f.verified" | sed 's/^/@@verified /'
    done
  )
}
