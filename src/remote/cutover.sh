# shellcheck shell=sh
# The one-time cutover: from apps listening on the public ports to HAProxy in front of them (the
# `cutover` action). Each color's .env port line is set with envfile.sh (saved first), the idle
# color moves to its own port, HAProxy starts on the preview port, the live color stops, HAProxy
# reloads onto the live port and the live color starts on its own port while HAProxy holds the
# requests. Markers under SD let one undo handle any partial state.

# bg_cutover_port_is FILE KEY PORT: FILE defines KEY as PORT (plain, quoted, or after export).
bg_cutover_port_is() {
  bg_l=$(bg_env_lines "$(bg_env_real "$1")" "$2" 2>/dev/null) || bg_l=''
  # KEY is letters, digits and _ (checked when the plan is made): safe inside the pattern.
  printf '%s\n' "$bg_l" | grep -Eqx "[[:space:]]*(export[[:space:]]+)?$2[[:space:]]*=[[:space:]]*[\"']?$3[\"']?[[:space:]]*" \
    || { echo "bg: $1 does not set $2=$3 (found: ${bg_l:-nothing}): the cutover moves the app by its .env port line" >&2; return 1; }
}

# bg_cutover_closed PORT: nothing accepts connections on 127.0.0.1:PORT.
bg_cutover_closed() {
  curl -s -o /dev/null --max-time 2 --url "http://127.0.0.1:$1/" && { echo "bg: something already listens on 127.0.0.1:$1" >&2; return 1; }
  # curl exits 7 when it could not connect; anything else (a timeout, a reset) means something is there.
  [ $? -eq 7 ] || { echo "bg: something already listens on 127.0.0.1:$1" >&2; return 1; }
}

# bg_cutover_ready SOCKET KEY NAME FILE PUBLIC OWN NAME FILE PUBLIC OWN: pre-flight: HAProxy is not running, each .env sets KEY to its public port, the own ports are free.
bg_cutover_ready() {
  bg_sock=$1; bg_key=$2; shift 2
  ! bg_proxy_send "$bg_sock" "show info" >/dev/null 2>&1 || { echo "bg: HAProxy already answers on $bg_sock: the cutover is done (bg rollback of its run undoes it)" >&2; exit 1; }
  while [ $# -ge 4 ]; do
    bg_cutover_port_is "$2" "$bg_key" "$3" || exit 1
    bg_cutover_closed "$4" || exit 1
    echo "$1: $2 sets $bg_key=$3; its own port $4 is free"
    shift 4
  done
}

# bg_cutover_move SD APP HEALTH WAIT_S: restart APP with --update-env (on its own port now) and wait until HEALTH answers.
bg_cutover_move() {
  : > "$1/moved"
  pm2 restart "$2" --update-env >/dev/null || exit 1
  bg_cutover_wait_http "$3" "$4" || exit 1
  echo "$2 answers on its own port: $3"
}

# bg_cutover_wait_http URL SECONDS: until URL answers 2xx (polled every 50 ms).
bg_cutover_wait_http() {
  bg_i=$(($2 * 20))
  until (bg_http_check "$1" 2) >/dev/null 2>&1; do
    bg_i=$((bg_i - 1)); [ "$bg_i" -gt 0 ] || { echo "bg: $1 does not answer after $2 s" >&2; return 1; }
    sleep 0.05
  done
}

# bg_cutover_proxy_start SD KIND NAME CONFIG SOCKET: start HAProxy (pm2: the app NAME, created if pm2 lacks it; systemd: the unit) and wait for its admin socket.
bg_cutover_proxy_start() {
  : > "$1/proxy-started"
  case $2 in
    pm2)
      if [ -n "$(bg_pm2_procs "$3")" ]; then pm2 start "$3" >/dev/null || return 1
      else
        bg_hp=$(command -v haproxy) || { echo "bg: haproxy is not installed" >&2; return 1; }
        : > "$1/proxy-created"
        pm2 start "$bg_hp" --name "$3" --interpreter none -- -W -db -f "$4" >/dev/null || return 1
      fi ;;
    systemd) sudo -n systemctl start -- "$3" || return 1 ;;
  esac
  bg_proxy_answers "$5" 200 0.05 || { echo "bg: HAProxy ($3) does not answer on $5 10 s after its start" >&2; return 1; }
}

# bg_cutover_listening PORT: until something accepts connections on 127.0.0.1:PORT (5 s at most).
bg_cutover_listening() {
  bg_i=0
  while :; do
    # 7: refused. Anything else (an answer, or a held request timing out) means HAProxy accepted.
    curl -s -o /dev/null --max-time 0.2 --url "http://127.0.0.1:$1/" && return 0
    [ $? -eq 7 ] || return 0
    bg_i=$((bg_i + 1)); [ "$bg_i" -lt 500 ] || { echo "bg: nothing listens on 127.0.0.1:$1 5 s after HAProxy's reload" >&2; return 1; }
    sleep 0.01
  done
}

# bg_cutover_live SD KIND NAME CONFIG SOCKET LIVE_PORT APP HEALTH WAIT_S: HAProxy started without the live port, APP stopped, HAProxy reloaded onto the live port at once, APP started on its own port; report the gap.
bg_cutover_live() {
  # HAProxy cannot bind the live port while the app holds it: it starts on a configuration without
  # the live frontend, and takes the port by a reload (master-worker: ~30 ms) right after the stop.
  cp -p -- "$4" "$4.bg-final" || exit 1
  : > "$1/interim"
  awk '$0 == "frontend bg_live" { skip = 1 } skip && $0 == "" { skip = 0; next } !skip' "$4.bg-final" > "$4.bg-tmp" && mv -f -- "$4.bg-tmp" "$4" || exit 1
  bg_cutover_proxy_start "$1" "$2" "$3" "$4" "$5" || exit 1
  if [ "$2" = pm2 ]; then bg_mp=$(bg_pm2_procs "$3" | awk '$2 == "online" { print $1; exit }'); [ -n "$bg_mp" ] || { echo "bg: HAProxy ($3) is not online in pm2" >&2; exit 1; }; fi
  bg_t0=$(date +%s%N)
  : > "$1/live-stopped"
  pm2 stop "$7" >/dev/null || exit 1
  bg_t1=$(date +%s%N)
  mv -f -- "$4.bg-final" "$4" || exit 1
  case $2 in
    pm2) kill -USR2 "$bg_mp" || exit 1 ;;
    systemd) sudo -n systemctl reload -- "$3" || exit 1 ;;
  esac
  bg_cutover_listening "$6" || exit 1
  bg_t2=$(date +%s%N)
  pm2 start "$7" --update-env >/dev/null || exit 1
  bg_cutover_wait_http "$8" "$9" || exit 1
  bg_t3=$(date +%s%N)
  echo "$(( (bg_t2 - bg_t1) / 1000000 ))" > "$1/gap-ms"
  echo "pm2 stop $7: $(( (bg_t1 - bg_t0) / 1000000 )) ms; HAProxy listened on :$6 $(( (bg_t2 - bg_t1) / 1000000 )) ms later (connections to it were refused from the app's stop until then); $7 answered on its own port $(( (bg_t3 - bg_t2) / 1000000 )) ms after that (HAProxy held those requests)"
}

# bg_cutover_undo SD KIND NAME CONFIG KEY WAIT_S LIVE_APP LIVE_FILE LIVE_URL IDLE_APP IDLE_FILE IDLE_URL: .env files back, HAProxy stopped (removed from pm2 if bg created it), the apps restarted on their public ports.
bg_cutover_undo() {
  bg_sd=$1; bg_kind=$2; bg_name=$3; bg_cfg=$4; bg_key=$5; bg_wait=$6; shift 6
  [ -d "$bg_sd/live" ] || { echo "nothing to undo: the step never started"; exit 0; }
  # The generated configuration back in place (the proxy-config step's undo expects it).
  [ ! -f "$bg_sd/interim" ] || [ ! -f "$bg_cfg.bg-final" ] || mv -f -- "$bg_cfg.bg-final" "$bg_cfg" || exit 1
  # The previous port lines first (no restart yet: HAProxy still holds the public ports).
  (bg_env_undo "$bg_sd/live" "$2" "$bg_key") || exit 1
  (bg_env_undo "$bg_sd/idle" "$5" "$bg_key") || exit 1
  if [ -f "$bg_sd/proxy-started" ]; then
    case $bg_kind in
      pm2) if [ -f "$bg_sd/proxy-created" ]; then pm2 delete "$bg_name" >/dev/null 2>&1 || true; else pm2 stop "$bg_name" >/dev/null || exit 1; fi ;;
      systemd) sudo -n systemctl stop -- "$bg_name" || exit 1 ;;
    esac
    echo "stopped HAProxy ($bg_name)"
  fi
  # The live color first: its public port is refused from HAProxy's stop until it listens again.
  if [ -f "$bg_sd/live-stopped" ]; then
    pm2 restart "$1" --update-env >/dev/null || exit 1
    bg_cutover_wait_http "$3" "$bg_wait" || exit 1
    echo "$1 answers on its public port again: $3"
  fi
  if [ -f "$bg_sd/idle/moved" ]; then
    pm2 restart "$4" --update-env >/dev/null || exit 1
    bg_cutover_wait_http "$6" "$bg_wait" || exit 1
    echo "$4 answers on its public port again: $6"
  fi
}
