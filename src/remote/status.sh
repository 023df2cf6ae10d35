# shellcheck shell=sh
# What `bg status` reads about an env: read-only, one "key=value" line per fact.

# bg_env_status DIR DB APP HEALTH: "key=value" lines: dir, then sqlite3, link, real, size, fingerprint, migrations (DB), pm2 (APP), health (HEALTH); an empty DB, APP or HEALTH is one the env has not.
bg_env_status() {
  if [ -d "$1" ]; then echo "dir=ok"; else echo "dir=missing"; fi
  # A color that bg release manages: the release its current link points at (release.sh).
  bg_release_status "$1"
  if [ -n "$2" ]; then
    if bg_es_v=$(command -v sqlite3); then echo "sqlite3=$(sqlite3 --version </dev/null 2>&1 | head -n 1 | cut -d ' ' -f 1) ($bg_es_v)"; else echo "sqlite3=not found"; fi
    if [ -L "$2" ]; then echo "link=$(readlink "$2")"; fi
    if [ -f "$2" ]; then
      echo "real=$(readlink -f "$2")"; echo "size=$(wc -c < "$2" | tr -d ' ')"
      if bg_es_s=$(bg_schema "$2" 2>&1); then
        echo "fingerprint=sha256:$(printf '%s\n' "$bg_es_s" | sha256sum | cut -c1-16)"; echo "migrations=$(printf '%s\n' "$bg_es_s" | grep -c '^migration ')"
      else
        echo "fingerprint_error=$(printf '%s' "$bg_es_s" | tail -n 1)"
      fi
    else
      echo "db=missing"
    fi
  fi
  if [ -n "$3" ]; then
    if bg_es_p=$(bg_pm2_procs "$3" 2>&1); then
      [ -z "$bg_es_p" ] || printf '%s\n' "$bg_es_p" | sed 's/^/pm2=/'
    else
      echo "pm2_error=$(printf '%s' "$bg_es_p" | tail -n 1)"
    fi
  fi
  if [ -n "$4" ]; then echo "health=$(curl -s -g --proto =http,https -o /dev/null --max-time 5 -w '%{http_code}' --url "$4")"; fi
}
