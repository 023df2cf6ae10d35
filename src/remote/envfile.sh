# shellcheck shell=sh
# Dotenv files: set one KEY's line, check it, put the previous line(s) back. Values travel in
# ENVIRON, never in awk -v (which processes backslash escapes) or in the program text.

# The awk functions every dotenv program shares: keyof, closes, opens; a definition spans the lines dotenv reads as its value.
# shellcheck disable=SC2016 # an awk program: $ is awk's
BG_DOTENV_AWK='function keyof(l,  i, k) { sub(/^[ \t]+/, "", l); if (l ~ /^export[ \t]/) sub(/^export[ \t]+/, "", l); i = index(l, "="); if (i == 0) return ""; k = substr(l, 1, i - 1); sub(/[ \t]+$/, "", k); return k ~ /^[A-Za-z0-9_.-]+$/ ? k : "" }
function closes(s, q,  i) { for (i = 1; i <= length(s); i++) if (substr(s, i, 1) == q && (i == 1 || substr(s, i - 1, 1) != "\\")) return 1; return 0 }
function opens(l,  v, q) { v = substr(l, index(l, "=") + 1); sub(/^[ \t]+/, "", v); q = substr(v, 1, 1); if (q != "\"" && q != sprintf("%c", 39) && q != "`") return ""; return closes(substr(v, 2), q) ? "" : q }
{ line[++n] = $0 }
END { for (i = 1; i <= n; i++) { k = keyof(line[i]); last = i; if (k != "") { q = opens(line[i]); if (q != "") for (j = i + 1; j <= n; j++) if (closes(line[j], q)) { last = j; break } } block(k, i, last); i = last } finish() }'

# With BG_DOTENV_AWK: replace the first definition of ENVIRON["BG_KEY"] with ENVIRON["BG_LINE"] (or append it), drop the others.
BG_DOTENV_SET_AWK='function block(k, a, b,  i) { if (k == ENVIRON["BG_KEY"]) { if (!done) print ENVIRON["BG_LINE"]; done = 1 } else for (i = a; i <= b; i++) print line[i] }
function finish() { if (!done) print ENVIRON["BG_LINE"] }'

# With BG_DOTENV_AWK: put back the saved definitions (file ENVIRON["BG_SAVED"], may be empty) where the first definition is now.
BG_DOTENV_RESTORE_AWK='function block(k, a, b,  i, s) { if (k == ENVIRON["BG_KEY"]) { if (!done && ENVIRON["BG_SAVED"] != "") while ((getline s < ENVIRON["BG_SAVED"]) > 0) print s; done = 1 } else for (i = a; i <= b; i++) print line[i] }
function finish() {}'

# With BG_DOTENV_AWK: every line of every definition of ENVIRON["BG_KEY"].
BG_DOTENV_LIST_AWK='function block(k, a, b,  i) { if (k == ENVIRON["BG_KEY"]) for (i = a; i <= b; i++) print line[i] }
function finish() {}'

# bg_env_real FILE: the file FILE is (a .env that is a symlink, e.g. to a shared config, is edited where it points).
bg_env_real() { bg_r=$(readlink -f -- "$1" 2>/dev/null || true); [ -n "$bg_r" ] || bg_r=$1; printf '%s' "$bg_r"; }

# bg_env_lines FILE KEY: every line of every definition of KEY in FILE.
bg_env_lines() { BG_KEY="$2" awk "$BG_DOTENV_AWK
$BG_DOTENV_LIST_AWK" < "$1"; }

# bg_env_capture SD FILE KEY [APP]: save FILE (whole, mode kept) and its KEY lines in SD, and APP's pm2 processes.
bg_env_capture() {
  sd=$1; key=$3; app=${4:-}; real=$(bg_env_real "$2")
  mkdir -p "$sd"
  if [ -n "$app" ]; then { bg_pm2_procs "$app" 2>/dev/null || true; } > "$sd/pm2-before"; fi
  if [ -f "$real" ]; then
    cp -p -- "$real" "$sd/env-before" || exit 1
    bg_env_lines "$real" "$key" > "$sd/env-lines" || exit 1
    if [ -s "$sd/env-lines" ]; then echo present; else echo absent; fi > "$sd/env-state"
  else
    : > "$sd/env-lines"; echo nofile > "$sd/env-state"
  fi
}

# bg_env_set SD FILE KEY LINE: LINE becomes KEY's one definition in FILE (created owner-only if missing).
bg_env_set() {
  sd=$1; key=$3; line=$4; real=$(bg_env_real "$2")
  [ -f "$real" ] || ( umask 077 && : > "$real" ) || exit 1
  BG_KEY="$key" BG_LINE="$line" awk "$BG_DOTENV_AWK
$BG_DOTENV_SET_AWK" < "$real" > "$real.bg-tmp" || exit 1
  chmod --reference="$real" "$real.bg-tmp" 2>/dev/null || true
  mv -f -- "$real.bg-tmp" "$real" || exit 1
  # What bg wrote: if the file still is exactly that at undo time, undo puts the old bytes back.
  cksum < "$real" > "$sd/env-after"
  echo "set $key in $real"
}

# bg_env_check FILE KEY LINE: FILE defines KEY once, exactly as LINE.
bg_env_check() {
  real=$(bg_env_real "$1")
  got=$(bg_env_lines "$real" "$2") || exit 1
  [ "$got" = "$3" ] || { echo "bg: expected exactly the line $3 in $real, found: ${got:-nothing}" >&2; exit 1; }
  echo "$real: $3"
}

# bg_env_undo SD FILE KEY [APP]: put FILE back as it was (or only KEY's lines, if it changed since); restart APP if it was restarted meanwhile.
bg_env_undo() {
  sd=$1; key=$3; app=${4:-}; real=$(bg_env_real "$2")
  [ -f "$sd/env-state" ] || { echo "nothing to undo: the step never started"; exit 0; }
  state=$(cat "$sd/env-state")
  if [ -f "$real" ] && [ -f "$sd/env-after" ] && [ "$(cksum < "$real")" = "$(cat "$sd/env-after")" ]; then
    if [ "$state" = nofile ]; then rm -f -- "$real"; echo "removed $real (bg had created it)";
    else cp -p -- "$sd/env-before" "$real.bg-tmp" && mv -f -- "$real.bg-tmp" "$real" || exit 1; echo "restored $real as it was"; fi
  elif [ -f "$real" ]; then
    saved=""; [ "$state" != present ] || saved="$sd/env-lines"
    BG_KEY="$key" BG_SAVED="$saved" awk "$BG_DOTENV_AWK
$BG_DOTENV_RESTORE_AWK" < "$real" > "$real.bg-tmp" || exit 1
    chmod --reference="$real" "$real.bg-tmp" 2>/dev/null || true
    mv -f -- "$real.bg-tmp" "$real" || exit 1
    if [ "$state" = nofile ] && [ -z "$(tr -d '[:space:]' < "$real")" ]; then rm -f -- "$real"; echo "removed $real (bg had created it)"; else echo "restored the previous $key line in $real"; fi
  fi
  # The app was restarted after the line was set (its pids changed): it runs with the new value, so restart it once more.
  if [ -n "$app" ] && [ -s "$sd/pm2-before" ]; then
    now=$(bg_pm2_procs "$app" 2>/dev/null || true)
    if [ "$(awk '{ print $1 }' "$sd/pm2-before")" != "$(printf '%s\n' "$now" | awk 'NF { print $1 }')" ] && printf '%s\n' "$now" | grep -q ' online '; then
      pm2 restart "$app" --update-env >/dev/null || exit 1
      bg_pm2_wait_online "$app" 30 || exit 1
      echo "restarted $app (--update-env) so that it runs with the restored value"
    fi
  fi
}
