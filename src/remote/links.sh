# shellcheck shell=sh
# Symlinks re-pointed atomically (a new link under a temporary name renamed over the old one with
# mv -T, so the link never disappears); a regular file in the way is hard-linked aside first.

# bg_link_capture SD LINK KEEP: record in SD what LINK is now (symlink and its target, file, or none).
bg_link_capture() {
  sd=$1; link=$2; keep=$3
  mkdir -p "$sd"
  if [ -L "$link" ]; then
    printf '%s' "$(readlink -- "$link")" > "$sd/link-target" && echo symlink > "$sd/link-state"
  elif [ -d "$link" ]; then
    echo "bg: $link is a directory: not replacing it with a symlink" >&2; exit 1
  elif [ -e "$link" ]; then
    if [ -e "$keep" ] || [ -L "$keep" ]; then echo "bg: $link is a file and $keep already exists: move it away or give with.keep_as" >&2; exit 1; fi
    echo file > "$sd/link-state"
  else
    echo none > "$sd/link-state"
  fi
}

# bg_link_switch LINK TARGET KEEP: point LINK at TARGET atomically; a regular file at LINK is kept as KEEP.
bg_link_switch() {
  link=$1; target=$2; keep=$3; tmp="$link.bg-tmp"
  set -e
  if [ -f "$link" ] && [ ! -L "$link" ]; then ln -- "$link" "$keep"; echo "kept $link as $keep"; fi
  rm -f -- "$tmp"
  ln -sfn -- "$target" "$tmp"
  mv -T -- "$tmp" "$link"
  printf '%s -> %s\n' "$link" "$target"
}

# bg_link_check SD LINK TARGET KEEP: LINK points at TARGET, and a file it replaced is at KEEP.
bg_link_check() {
  sd=$1; link=$2; target=$3; keep=$4
  got=$(readlink -- "$link") || { echo "bg: $link is not a symlink" >&2; exit 1; }
  [ "$got" = "$target" ] || { echo "bg: $link points to $got, not $target" >&2; exit 1; }
  [ "$(cat "$sd/link-state" 2>/dev/null)" != file ] || [ -f "$keep" ] || { echo "bg: the previous file is not at $keep" >&2; exit 1; }
  printf '%s -> %s\n' "$link" "$got"
}

# bg_link_undo SD LINK KEEP: put back what LINK was before bg_link_switch (as recorded by bg_link_capture).
bg_link_undo() {
  sd=$1; link=$2; keep=$3; tmp="$link.bg-tmp"
  [ -f "$sd/link-state" ] || { echo "nothing to undo: the step never started"; exit 0; }
  rm -f -- "$tmp"
  case $(cat "$sd/link-state") in
    none) if [ -L "$link" ]; then rm -f -- "$link" && echo "removed $link"; fi ;;
    symlink) prev=$(cat "$sd/link-target") && ln -sfn -- "$prev" "$tmp" && mv -T -- "$tmp" "$link" && printf '%s -> %s again\n' "$link" "$prev" || exit 1 ;;
    file)
      # shellcheck disable=SC3013 # -ef: dash, bash and busybox test have it
      # A half-done run may have made the hard link but not the switch: then both names are one file.
      if [ -e "$keep" ] && [ "$keep" -ef "$link" ]; then rm -f -- "$keep"; echo "$link was never switched"
      elif [ -e "$keep" ]; then mv -T -- "$keep" "$link" && echo "moved $keep back to $link" || exit 1
      elif [ -f "$link" ] && [ ! -L "$link" ]; then echo "$link is already the file"
      else echo "bg: cannot undo: the previous file $keep is missing" >&2; exit 1; fi ;;
  esac
}
