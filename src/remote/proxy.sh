# shellcheck shell=sh
# The HAProxy in front of the colors: its admin socket (talked to with socat when the host has it,
# else with the host's node, which bg needs for pm2 anyway), its map file, its configuration.

# Sends argv[1] plus a newline to the unix socket argv[2]; prints the answer; exit 1 when it cannot connect.
# shellcheck disable=SC2016 # JavaScript text
BG_PROXY_SOCKET_JS='const c=require("net").connect(process.argv[2]);let s="";c.setTimeout(5000,()=>{console.error("bg: no answer from the admin socket "+process.argv[2]+" within 5 s");process.exit(1)});c.on("connect",()=>c.write(process.argv[1]+"\n"));c.on("data",d=>s+=d);c.on("end",()=>{process.stdout.write(s);process.exit(0)});c.on("error",e=>{console.error("bg: cannot reach the admin socket "+process.argv[2]+": "+e.code);process.exit(1)})'

# bg_proxy_send SOCKET LINE: send one command line to HAProxy's admin socket (socat when present: ~2 ms, node: ~50-120 ms to start); print its answer.
bg_proxy_send() {
  # socat reads `,` `:` `!` in an address as syntax: only plain paths go to it (the inventory allows no others).
  case $1 in
    *[!A-Za-z0-9._/+@-]*) ;;
    *) if command -v socat >/dev/null 2>&1; then
         printf '%s\n' "$2" | socat -T 5 - "UNIX-CONNECT:$1" 2>/dev/null && return 0
         echo "bg: cannot reach the admin socket $1 (socat)" >&2; return 1
       fi ;;
  esac
  node -e "$BG_PROXY_SOCKET_JS" -- "$2" "$1"
}

# bg_proxy_answers SOCKET TRIES DELAY: until HAProxy answers `show info` on SOCKET, at most TRIES times DELAY seconds apart; 1 when it never did.
bg_proxy_answers() {
  bg_pa_i=0
  until bg_proxy_send "$1" "show info" >/dev/null 2>&1; do
    bg_pa_i=$((bg_pa_i + 1)); [ "$bg_pa_i" -lt "$2" ] || return 1
    sleep "$3"
  done
}

# bg_proxy_socket_live SOCKET MAP: the backend HAProxy routes live to now (its runtime map), e.g. be_green.
bg_proxy_socket_live() {
  bg_a=$(bg_proxy_send "$1" "show map $2") || return 1
  bg_b=$(printf '%s\n' "$bg_a" | awk '$2 == "live" { print $3; exit }')
  [ -n "$bg_b" ] || { echo "bg: HAProxy's map $2 has no live entry: $(printf '%s' "$bg_a" | head -c 200)" >&2; return 1; }
  printf '%s\n' "$bg_b"
}

# bg_proxy_live_is SOCKET MAP BACKEND: live routes to BACKEND now.
bg_proxy_live_is() {
  bg_b=$(bg_proxy_socket_live "$1" "$2") || exit 1
  [ "$bg_b" = "$3" ] || { echo "bg: live is $bg_b now, not $3 as when the plan was made: plan again" >&2; exit 1; }
  echo "live is $bg_b"
}

# bg_proxy_state MAP SOCKET: key=value lines: the map file's live and preview backends, the runtime's, the last switch.
bg_proxy_state() {
  if [ -f "$1" ]; then awk '$1 == "live" { print "file_live=" $2 } $1 == "preview" { print "file_preview=" $2 }' "$1"; else echo "file=missing"; fi
  if bg_s=$(bg_proxy_socket_live "$2" "$1" 2>&1); then echo "socket_live=$bg_s"; else echo "socket_error=$(printf '%s' "$bg_s" | tail -n 1)"; fi
  [ ! -f "$1.switched" ] || sed -n '1s/^/switched=/p' "$1.switched"
}

# bg_proxy_write_map MAP LIVE_BE PREVIEW_BE: rewrite the map file atomically (temp file, fsync, rename).
bg_proxy_write_map() {
  bg_t="$1.bg-tmp"
  printf 'live %s\npreview %s\n' "$2" "$3" > "$bg_t" && sync -- "$bg_t" && mv -f -- "$bg_t" "$1"
}

# bg_proxy_set SOCKET MAP LIVE_BE PREVIEW_BE: route live and preview through the runtime map, then persist the map file.
bg_proxy_set() {
  bg_t0=$(date +%s%N)
  bg_a=$(bg_proxy_send "$1" "set map $2 live $3;set map $2 preview $4") || return 1
  bg_t1=$(date +%s%N)
  # `set map` answers nothing when it worked.
  [ -z "$(printf '%s' "$bg_a" | tr -d '\n')" ] || { echo "bg: HAProxy refused set map: $bg_a" >&2; return 1; }
  bg_proxy_write_map "$2" "$3" "$4" || { echo "bg: cannot write the map file $2 (the runtime map says live $3)" >&2; return 1; }
  echo "live -> $3, preview -> $4 in $(( (bg_t1 - bg_t0) / 1000000 )) ms (runtime map), map file $2 rewritten"
}

# bg_proxy_capture SD SOCKET MAP: record in SD the backends live and preview route to now (the runtime map).
bg_proxy_capture() {
  mkdir -p "$1"
  bg_a=$(bg_proxy_send "$2" "show map $3") || exit 1
  printf '%s\n' "$bg_a" | awk '$2 == "live" { l = $3 } $2 == "preview" { p = $3 } END { if (l == "" || p == "") exit 1; print l " " p }' > "$1/proxy-before" \
    || { echo "bg: HAProxy's map $3 lacks live or preview: $(printf '%s' "$bg_a" | head -c 200)" >&2; exit 1; }
  echo "live was $(cut -d ' ' -f 1 "$1/proxy-before")"
}

# bg_proxy_switch SD SOCKET MAP LIVE_BE PREVIEW_BE: switch live (and preview) and record when, in SD and beside MAP.
bg_proxy_switch() {
  bg_proxy_set "$2" "$3" "$4" "$5" || exit 1
  bg_w=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
  printf '%s %s\n' "$bg_w" "${4#be_}" > "$1/switched-at"
  printf '%s %s\n' "$bg_w" "${4#be_}" > "$3.switched.bg-tmp" && mv -f -- "$3.switched.bg-tmp" "$3.switched"
}

# bg_proxy_undo_switch SD SOCKET MAP: route live and preview back to what SD/proxy-before recorded.
bg_proxy_undo_switch() {
  [ -f "$1/proxy-before" ] || { echo "nothing to undo: the step never started"; exit 0; }
  read -r bg_l bg_p < "$1/proxy-before"
  bg_proxy_set "$2" "$3" "$bg_l" "$bg_p" || exit 1
  printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "${bg_l#be_}" > "$3.switched.bg-tmp" && mv -f -- "$3.switched.bg-tmp" "$3.switched"
}

# bg_proxy_check_live URL COLOR TIMES [HEADER]: TIMES fresh GETs of URL all come back through COLOR's backend (and HEADER names COLOR).
bg_proxy_check_live() {
  bg_n=0
  while [ "$bg_n" -lt "$3" ]; do
    bg_h=$(curl -sS -g --proto =http,https --max-time 5 -D - -o /dev/null --url "$1" | tr -d '\r') || { echo "bg: GET $1 failed" >&2; exit 1; }
    bg_c=$(printf '%s\n' "$bg_h" | awk -F': *' 'tolower($1) == "x-bg-color" { print $2 }')
    [ "$bg_c" = "$2" ] || { echo "bg: GET $1 was served by ${bg_c:-an unknown backend}, not $2" >&2; exit 1; }
    if [ -n "$4" ]; then
      bg_a=$(printf '%s\n' "$bg_h" | BG_H="$4" awk -F': *' 'tolower($1) == tolower(ENVIRON["BG_H"]) { print $2 }')
      [ "$bg_a" = "$2" ] || { echo "bg: GET $1: the app's $4 header says ${bg_a:-nothing}, not $2" >&2; exit 1; }
    fi
    bg_n=$((bg_n + 1))
  done
  echo "$3 of $3 requests to $1 answered by $2"
}

# bg_switch_gate URL TRIES APP STABLE_S: URL answers 2xx within TRIES tries (1 s apart) and APP stays online STABLE_S seconds.
bg_switch_gate() {
  bg_i=1
  until bg_r=$( (bg_http_check "$1" 5) 2>&1); do
    [ "$bg_i" -lt "$2" ] || { printf 'bg: %s is not healthy after %s tries: %s\n' "$1" "$2" "$bg_r" >&2; exit 1; }
    bg_i=$((bg_i + 1)); sleep 1
  done
  echo "$1 answers 2xx"
  [ "$4" = 0 ] || (bg_pm2_check_stable "$3" "$4") || exit 1
}

# bg_proxy_config_test CONFIG_TEXT MAP MAP_TEXT: `haproxy -c` of the text, against a copy of MAP (or MAP_TEXT when MAP is missing).
bg_proxy_config_test() {
  command -v haproxy >/dev/null 2>&1 || { echo "bg: haproxy is not installed (apt-get install haproxy)" >&2; exit 1; }
  bg_d=$(mktemp -d) || exit 1
  trap 'rm -rf "$bg_d"' EXIT
  if [ -f "$2" ]; then cp -- "$2" "$bg_d/live.map"; else printf '%s' "$3" > "$bg_d/live.map"; fi
  # The map path is plain characters (the inventory refuses others): a literal replacement.
  printf '%s' "$1" | BG_FROM="map($2," BG_TO="map($bg_d/live.map," awk '{ while ((i = index($0, ENVIRON["BG_FROM"])) > 0) $0 = substr($0, 1, i - 1) ENVIRON["BG_TO"] substr($0, i + length(ENVIRON["BG_FROM"])); print }' > "$bg_d/haproxy.cfg"
  bg_o=$(haproxy -c -f "$bg_d/haproxy.cfg" 2>&1) || { echo "bg: haproxy -c refuses the generated configuration:" >&2; printf '%s\n' "$bg_o" | grep -v NOTICE >&2; exit 1; }
  echo "haproxy -c: the configuration is valid"
}

# bg_proxy_config_capture SD CONFIG MAP: keep CONFIG (and whether MAP exists) in SD for the undo.
bg_proxy_config_capture() {
  mkdir -p "$1"
  if [ -f "$2" ]; then cp -p -- "$2" "$1/config-before"; else : > "$1/config-absent"; fi
  [ -f "$3" ] || : > "$1/map-absent"
  echo "recorded $2"
}

# bg_proxy_config_write CONFIG CONFIG_TEXT MAP MAP_TEXT: write MAP if missing, then CONFIG atomically once haproxy -c accepts it.
bg_proxy_config_write() {
  mkdir -p -- "$(dirname -- "$1")" "$(dirname -- "$3")"
  if [ ! -f "$3" ]; then printf '%s' "$4" > "$3.bg-tmp" && sync -- "$3.bg-tmp" && mv -f -- "$3.bg-tmp" "$3" && echo "wrote $3"; fi
  printf '%s' "$2" > "$1.bg-tmp" || exit 1
  bg_o=$(haproxy -c -f "$1.bg-tmp" 2>&1) || { rm -f -- "$1.bg-tmp"; echo "bg: haproxy -c refuses the configuration:" >&2; printf '%s\n' "$bg_o" | grep -v NOTICE >&2; exit 1; }
  sync -- "$1.bg-tmp" && mv -f -- "$1.bg-tmp" "$1" && echo "wrote $1 (haproxy -c: valid)"
}

# bg_proxy_reload KIND NAME SOCKET: make a running HAProxy read its configuration again (pm2: SIGUSR2 to the master; systemd: reload).
bg_proxy_reload() {
  case $1 in
    pm2)
      bg_p=$(bg_pm2_procs "$2") || exit 1
      if ! printf '%s\n' "$bg_p" | grep -q ' online '; then echo "$2 is not running under pm2: start it with pm2 start haproxy --name $2 --interpreter none -- -W -db -f CONFIG"; exit 0; fi
      pm2 sendSignal SIGUSR2 "$2" >/dev/null || exit 1 ;;
    systemd)
      systemctl is-active --quiet -- "$2" || { echo "$2 is not active: start it with systemctl start $2"; exit 0; }
      sudo -n systemctl reload -- "$2" || exit 1 ;;
  esac
  # The new worker answers on the admin socket once it has loaded the configuration.
  bg_proxy_answers "$3" 50 0.1 || { echo "bg: HAProxy's admin socket $3 does not answer after the reload" >&2; exit 1; }
  echo "reloaded $2"
}

# bg_proxy_config_check CONFIG CONFIG_TEXT: CONFIG holds exactly CONFIG_TEXT.
bg_proxy_config_check() {
  [ "$(cat -- "$1" 2>/dev/null; echo x)" = "$(printf '%s' "$2"; echo x)" ] || { echo "bg: $1 is not the configuration bg wrote" >&2; exit 1; }
  echo "$1 is the generated configuration"
}

# bg_proxy_config_undo SD CONFIG MAP: put CONFIG back as it was (removed if bg created it), MAP removed if bg created it.
bg_proxy_config_undo() {
  if [ -f "$1/config-before" ]; then cp -p -- "$1/config-before" "$2.bg-tmp" && mv -f -- "$2.bg-tmp" "$2" && echo "put $2 back"
  elif [ -f "$1/config-absent" ]; then rm -f -- "$2" && echo "removed $2"
  else echo "nothing to undo: the step never started"; exit 0; fi
  if [ -f "$1/map-absent" ]; then rm -f -- "$3" && echo "removed $3"; fi
}
