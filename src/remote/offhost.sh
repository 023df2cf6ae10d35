# shellcheck shell=sh
# Backups off the host: a backup sent to the machine running bg (copy_to), and one received from it (bg restore --from-local).

# bg_offhost_send FILE: "@@bg-offhost SHA256 SIZE" on a line of its own, then FILE's bytes (plain files only; 3: no such backup).
bg_offhost_send() {
  if [ ! -f "$1" ] || [ -L "$1" ]; then printf 'bg: no backup file %s\n' "$1" >&2; return 3; fi
  bg_oh_h=$(sha256sum < "$1" | cut -c1-64) && bg_oh_n=$(wc -c < "$1" | tr -d ' ') || return 1
  # The header line lets bg skip whatever a login shell printed first (a .bashrc's noise, maybe without a newline).
  printf '\n@@bg-offhost %s %s\n' "$bg_oh_h" "$bg_oh_n" && cat < "$1"
}

# bg_offhost_has DST SHA256: 0 when DST is that backup already, 3 when absent, 4 when another file (or a link) has its name.
bg_offhost_has() {
  [ ! -L "$1" ] || return 4
  [ -e "$1" ] || return 3
  [ -f "$1" ] || return 4
  [ "$(sha256sum < "$1" | cut -c1-64)" = "$2" ] || return 4
}

# bg_offhost_part DIR PART [new]: base64 on stdin appended to PART in DIR (DIR made first; `new` starts PART empty).
bg_offhost_part() {
  mkdir -p -- "$1" || return 1
  [ "$3" != new ] || : > "$2" || return 1
  base64 -d >> "$2"
}

# bg_offhost_drop PART: remove an upload that did not complete.
bg_offhost_drop() { rm -f -- "$1"; }

# bg_offhost_commit PART DST SHA256: PART has that sha256 and becomes DST (never over an existing file), with DST.counts.
bg_offhost_commit() {
  bg_oh_h=$(sha256sum < "$1" | cut -c1-64) || return 1
  [ "$bg_oh_h" = "$3" ] || { rm -f -- "$1"; printf 'bg: the upload arrived with sha256 %s, not %s; removed\n' "$bg_oh_h" "$3" >&2; return 1; }
  sync "$1"
  # A hard link fails when DST exists: no rename can replace a backup that appeared meanwhile.
  ln -- "$1" "$2" || { rm -f -- "$1"; return 1; }
  rm -f -- "$1"
  bg_counts "$2" | bg_write_file "$2.counts"
  printf 'uploaded %s (sha256 %s)\n' "$2" "$3"
}
