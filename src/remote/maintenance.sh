# shellcheck shell=sh
# Maintenance windows (the `maintenance` playbook): both public ports routed to HAProxy's
# maintenance backend through the map, as a switch routes them to a color, and back; without a
# proxy only the window's start and end are recorded. RUNDIR/maintenance holds the start (ns since
# the epoch) and the backends live and preview routed to before: what the end returns to.

# bg_maint_ready SOCKET MAP: the running HAProxy has the maintenance backend, and no maintenance window is open.
bg_maint_ready() {
  bg_a=$(bg_proxy_send "$1" "show backend") || exit 1
  printf '%s\n' "$bg_a" | grep -qx bg_maintenance || { echo "bg: the HAProxy on $1 has no bg_maintenance backend (its configuration predates maintenance windows): run bg run proxy first, it rewrites the configuration and reloads HAProxy" >&2; exit 1; }
  bg_b=$(bg_proxy_socket_live "$1" "$2") || exit 1
  [ "$bg_b" != bg_maintenance ] || { echo "bg: a maintenance window is open already (live routes to bg_maintenance): bg rollback of the run that opened it (bg history), or bg switch --to COLOR, ends it" >&2; exit 1; }
  echo "HAProxy has the maintenance backend; live routes to $bg_b"
}

# bg_maint_stamp MAP WHAT: record beside MAP when live was last routed, and to what (bg status shows it).
bg_maint_stamp() {
  printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "$2" > "$1.switched.bg-tmp" && mv -f -- "$1.switched.bg-tmp" "$1.switched"
}

# bg_maint_begin RUNDIR SD SOCKET MAP: route live and preview to the maintenance backend; RUNDIR/maintenance records when, and what they routed to (SD/proxy-before).
bg_maint_begin() {
  read -r bg_l bg_p < "$2/proxy-before" || { echo "bg: $2/proxy-before is missing: the live color was not recorded" >&2; exit 1; }
  # The window starts before the runtime map changes: no maintenance answer comes before its start.
  bg_t0=$(date +%s%N)
  bg_proxy_set "$3" "$4" bg_maintenance bg_maintenance || exit 1
  printf '%s %s %s\n' "$bg_t0" "$bg_l" "$bg_p" > "$1/maintenance.bg-tmp" && mv -f -- "$1/maintenance.bg-tmp" "$1/maintenance" || exit 1
  bg_maint_stamp "$4" maintenance
  echo "maintenance window open: both public ports answer the maintenance 503 (live was ${bg_l#be_}, preview ${bg_p#be_})"
}

# bg_maint_begin_direct RUNDIR: (no proxy) record the window's start in RUNDIR/maintenance.
bg_maint_begin_direct() {
  printf '%s - -\n' "$(date +%s%N)" > "$1/maintenance.bg-tmp" && mv -f -- "$1/maintenance.bg-tmp" "$1/maintenance" || exit 1
  echo "maintenance window open; no proxy: connections to the apps are refused while they are stopped"
}

# bg_maint_header NAME: the value of response header NAME in the header block on stdin (any case).
bg_maint_header() {
  BG_H="$1" awk -F': *' 'tolower($1) == tolower(ENVIRON["BG_H"]) { print $2; exit }'
}

# bg_maint_check URL TIMES RETRY_AFTER: TIMES fresh GETs of URL all get HAProxy's maintenance 503 with that Retry-After.
bg_maint_check() {
  bg_n=0
  while [ "$bg_n" -lt "$2" ]; do
    bg_h=$(curl -sS -g --proto =http,https --max-time 5 -D - -o /dev/null --url "$1" | tr -d '\r') || { echo "bg: GET $1 failed" >&2; exit 1; }
    bg_s=$(printf '%s\n' "$bg_h" | awk 'NR == 1 { print $2 }')
    bg_c=$(printf '%s\n' "$bg_h" | bg_maint_header X-Bg-Color)
    bg_r=$(printf '%s\n' "$bg_h" | bg_maint_header Retry-After)
    if [ "$bg_s" != 503 ] || [ "$bg_c" != maintenance ] || [ "$bg_r" != "$3" ]; then echo "bg: GET $1 answered ${bg_s:-nothing} (X-Bg-Color: ${bg_c:-none}, Retry-After: ${bg_r:-none}), not the maintenance 503" >&2; exit 1; fi
    bg_n=$((bg_n + 1))
  done
  echo "$2 of $2 requests to $1 answered the maintenance 503 (Retry-After: $3)"
}

# bg_maint_window RUNDIR SD: print the milliseconds since the window opened (RUNDIR/maintenance), and keep them in SD/window-ms.
bg_maint_window() {
  bg_t0=$(cut -d ' ' -f 1 "$1/maintenance") || exit 1
  bg_ms=$(( ($(date +%s%N) - bg_t0) / 1000000 ))
  mkdir -p -- "$2" && printf '%s\n' "$bg_ms" > "$2/window-ms"
  printf '%s\n' "$bg_ms"
}

# bg_maint_opened RUNDIR: exit 1 naming the cause when this run opened no maintenance window.
bg_maint_opened() {
  [ -f "$1/maintenance" ] || { echo "bg: this run opened no maintenance window ($1/maintenance is missing): a maintenance step with op: begin comes first" >&2; exit 1; }
}

# bg_maint_end RUNDIR SD SOCKET MAP: route live and preview back to what they routed to before the window; report its length.
bg_maint_end() {
  bg_maint_opened "$1"
  read -r bg_t0 bg_l bg_p < "$1/maintenance" || exit 1
  case $bg_l in be_*) ;; *) echo "bg: $1/maintenance records no color to return to (live: $bg_l)" >&2; exit 1 ;; esac
  bg_proxy_set "$3" "$4" "$bg_l" "$bg_p" || exit 1
  bg_ms=$(bg_maint_window "$1" "$2") || exit 1
  bg_maint_stamp "$4" "${bg_l#be_}"
  echo "maintenance window closed after $bg_ms ms: live ${bg_l#be_} again (the public ports answered the maintenance 503 for $bg_ms ms)"
}

# bg_maint_end_direct RUNDIR SD: (no proxy) report the window's length.
bg_maint_end_direct() {
  bg_maint_opened "$1"
  bg_ms=$(bg_maint_window "$1" "$2") || exit 1
  echo "maintenance window closed after $bg_ms ms (no proxy: connections were refused while the apps were stopped)"
}

# bg_maint_check_back RUNDIR URL TIMES [HEADER]: TIMES fresh GETs of URL come back from the color live before the window.
bg_maint_check_back() {
  read -r bg_t0 bg_l bg_p < "$1/maintenance" || exit 1
  bg_proxy_check_live "$2" "${bg_l#be_}" "$3" "${4:-}"
}
