# shellcheck shell=sh
# Releases of new code to a color: DIR/releases/<id> (the code), DIR/releases/<id>.bg-release (where
# it came from), DIR/current -> releases/<id> (what the color's pm2 app runs, cwd DIR).

# bg_release_meta RELDIR ID KEY=VALUE...: write RELDIR/ID.bg-release (one key=value a line, fsynced).
bg_release_meta() {
  bg_rm_f="$1/$2.bg-release"; shift 2
  printf '%s\n' "$@" "fetched=$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$bg_rm_f.bg-tmp" && sync -- "$bg_rm_f.bg-tmp" && mv -f -- "$bg_rm_f.bg-tmp" "$bg_rm_f"
}

# bg_release_begin SD RELDIR ID: refuse an existing release ID; record in SD that this step makes it; print the temporary directory.
bg_release_begin() {
  [ ! -e "$2/$3" ] || { echo "bg: release $2/$3 exists already" >&2; return 1; }
  mkdir -p -- "$1" "$2" || return 1
  printf '%s\n' "$2/$3" > "$1/release-created"
  rm -rf -- "$2/.$3.bg-tmp" && mkdir -- "$2/.$3.bg-tmp" && printf '%s\n' "$2/.$3.bg-tmp"
}

# bg_release_git_cache RELDIR REPO: fetch every branch and tag of REPO into RELDIR/.git-cache (a bare repository); print its path.
bg_release_git_cache() {
  bg_rg_c="$1/.git-cache"
  command -v git >/dev/null 2>&1 || { echo "bg: git is not installed on the host (needed for a release from a ref)" >&2; return 1; }
  mkdir -p -- "$1" || return 1
  [ -d "$bg_rg_c" ] || git init -q --bare -- "$bg_rg_c" || return 1
  git --git-dir="$bg_rg_c" fetch -q --force --prune --tags -- "$2" '+refs/heads/*:refs/heads/*' >&2 || { echo "bg: git fetch from $2 failed" >&2; return 1; }
  printf '%s\n' "$bg_rg_c"
}

# bg_release_git_commit CACHE REF: the commit REF names in CACHE.
bg_release_git_commit() {
  git --git-dir="$1" rev-parse -q --verify --end-of-options "$2^{commit}" || { echo "bg: no commit named $2 in the repository" >&2; return 1; }
}

# bg_release_fetch_git SD RELDIR ID REPO REF: the tree of REF (fetched by the host from REPO) as RELDIR/ID.
bg_release_fetch_git() {
  bg_rf_c=$(bg_release_git_cache "$2" "$4") || exit 1
  bg_rf_sha=$(bg_release_git_commit "$bg_rf_c" "$5") || exit 1
  bg_rf_t=$(bg_release_begin "$1" "$2" "$3") || exit 1
  git --git-dir="$bg_rf_c" archive --format=tar -- "$bg_rf_sha" | tar -x -C "$bg_rf_t" || { rm -rf -- "$bg_rf_t"; echo "bg: cannot extract $5 ($bg_rf_sha)" >&2; exit 1; }
  bg_release_meta "$2" "$3" "id=$3" "source=git $4" "ref=$5" "commit=$bg_rf_sha" || exit 1
  mv -T -- "$bg_rf_t" "$2/$3" || exit 1
  echo "release $3: $5 ($bg_rf_sha) from $4"
}

# bg_release_one_dir DIR: the name of DIR's only entry when that is a directory (not a link); fails otherwise.
bg_release_one_dir() {
  bg_r1=
  for bg_r1_e in "$1"/* "$1"/.[!.]* "$1"/..?*; do
    { [ -e "$bg_r1_e" ] || [ -L "$bg_r1_e" ]; } || continue
    [ -z "$bg_r1" ] || return 1
    bg_r1=$bg_r1_e
  done
  [ -n "$bg_r1" ] && [ -d "$bg_r1" ] && [ ! -L "$bg_r1" ] || return 1
  printf '%s\n' "${bg_r1##*/}"
}

# bg_release_fetch_archive SD RELDIR ID ARCHIVE LABEL: ARCHIVE (a tar, maybe compressed, uploaded by bg) extracted as RELDIR/ID; one top directory is its root.
bg_release_fetch_archive() {
  [ -f "$4" ] || { echo "bg: the uploaded release $4 is not on the host" >&2; exit 1; }
  bg_rf_sum=$(sha256sum < "$4" | cut -c1-64)
  bg_rf_t=$(bg_release_begin "$1" "$2" "$3") || exit 1
  tar -x -f "$4" -C "$bg_rf_t" || { rm -rf -- "$bg_rf_t"; echo "bg: cannot extract $4" >&2; exit 1; }
  # A tarball of one directory (app-1.4.0/...): that directory is the release.
  if bg_rf_one=$(bg_release_one_dir "$bg_rf_t"); then
    mv -T -- "$bg_rf_t/$bg_rf_one" "$bg_rf_t.root" && rmdir -- "$bg_rf_t" && mv -T -- "$bg_rf_t.root" "$bg_rf_t" || exit 1
  fi
  bg_release_meta "$2" "$3" "id=$3" "source=$5" "sha256=$bg_rf_sum" || exit 1
  mv -T -- "$bg_rf_t" "$2/$3" || exit 1
  rm -f -- "$4"
  echo "release $3: $5 (sha256:$bg_rf_sum)"
}

# bg_release_install DIR COMMAND: run COMMAND in DIR, refusing a DIR without a lockfile.
bg_release_install() {
  bg_ri_l=
  for bg_ri_f in package-lock.json npm-shrinkwrap.json yarn.lock pnpm-lock.yaml; do [ -f "$1/$bg_ri_f" ] && bg_ri_l=$bg_ri_f && break; done
  [ -n "$bg_ri_l" ] || { echo "bg: $1 has no lockfile (package-lock.json, npm-shrinkwrap.json, yarn.lock or pnpm-lock.yaml): refusing to install dependencies nobody locked" >&2; exit 1; }
  cd -- "$1" || exit 1
  eval "$2" || { echo "bg: the install command failed in $1: $2" >&2; exit 1; }
  echo "dependencies installed ($bg_ri_l)"
}

# bg_release_check RELDIR ID: the release directory and its record exist.
bg_release_check() {
  { [ -d "$1/$2" ] && [ -f "$1/$2.bg-release" ]; } || { echo "bg: release $1/$2 is not complete" >&2; exit 1; }
  echo "release $2 is in $1"
}

# bg_release_undo_fetch SD RELDIR ID LINK...: remove the release this step made, unless a LINK points at it.
bg_release_undo_fetch() {
  [ -f "$1/release-created" ] || { echo "nothing to undo: the step never started"; exit 0; }
  rm -rf -- "$2/.$3.bg-tmp"
  bg_ru_sd=$1 bg_ru_d=$2 bg_ru_id=$3; shift 3
  for bg_ru_l in "$@"; do
    [ "$(readlink -- "$bg_ru_l" 2>/dev/null)" != "releases/$bg_ru_id" ] || { echo "$bg_ru_l still points at release $bg_ru_id: kept"; exit 0; }
  done
  rm -rf -- "${bg_ru_d:?}/$bg_ru_id" && rm -f -- "$bg_ru_d/$bg_ru_id.bg-release" && echo "removed release $bg_ru_d/$bg_ru_id"
  rm -f -- "$bg_ru_sd/release-created"
}

# shellcheck disable=SC2016 # JavaScript text
BG_PM2_DEF_JS='let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const l=s.split("\n").reverse().find(x=>/^\s*\[(\{|\])/.test(x));if(l===undefined){console.error("bg: pm2 jlist printed no process list");process.exit(3)}const a=JSON.parse(l).filter(p=>p.name===process.argv[1]);if(!a.length){console.log("exists=0");return}const e=a[0].pm2_env||{};console.log("exists=1");console.log("script="+(e.pm_exec_path||""));console.log("cwd="+(e.pm_cwd||""));console.log("mode="+(e.exec_mode==="cluster_mode"?"cluster":"fork"));console.log("instances="+a.length);console.log("status="+(a.every(p=>(p.pm2_env||{}).status==="online")?"online":"stopped"))})'

# bg_release_app_def APP: key=value lines: whether pm2 knows APP, its script, cwd, mode, instances and status.
bg_release_app_def() {
  bg_pm2_procs "$1" > /dev/null || return 1
  pm2 jlist 2>/dev/null | node -e "$BG_PM2_DEF_JS" -- "$1"
}

# bg_release_app_capture SD APP: record APP's pm2 definition (SD/app-before) and processes (SD/pm2-before).
bg_release_app_capture() {
  mkdir -p -- "$1"
  bg_release_app_def "$2" > "$1/app-before.bg-tmp" || exit 1
  mv -f -- "$1/app-before.bg-tmp" "$1/app-before"
  bg_pm2_procs "$2" > "$1/pm2-before" || exit 1
  echo "$2: $(tr '\n' ' ' < "$1/app-before")"
}

# bg_release_app_field FILE KEY: the value of KEY in a key=value FILE.
bg_release_app_field() { sed -n "s/^$2=//p" "$1" | head -n 1; }

# bg_release_pm2_start APP SCRIPT CWD MODE INSTANCES: pm2 start SCRIPT as APP in CWD.
bg_release_pm2_start() {
  if [ "$4" = cluster ]; then pm2 start "$2" --name "$1" --cwd "$3" -i "$5" >/dev/null || return 1
  else pm2 start "$2" --name "$1" --cwd "$3" >/dev/null || return 1; fi
}

# bg_release_app_start SD APP SCRIPT CWD WAIT_S: run APP on SCRIPT (through the current link) in CWD: reload --update-env, or (re)define it.
bg_release_app_start() {
  bg_ra_b="$1/app-before"
  if [ "$(bg_release_app_field "$bg_ra_b" exists)" = 1 ] && [ "$(bg_release_app_field "$bg_ra_b" script)" = "$3" ]; then
    pm2 reload "$2" --update-env >/dev/null || exit 1
    echo "pm2 reload $2 --update-env: it runs $(readlink -f -- "$3")"
  else
    if [ "$(bg_release_app_field "$bg_ra_b" exists)" = 1 ]; then pm2 delete "$2" >/dev/null || exit 1; fi
    bg_release_pm2_start "$2" "$3" "$4" "$(bg_release_app_field "$bg_ra_b" mode)" "$(bg_release_app_field "$bg_ra_b" instances)" || exit 1
    echo "pm2 start $3 --name $2 --cwd $4: it runs $(readlink -f -- "$3")"
  fi
  bg_pm2_wait_online "$2" "$5" || exit 1
}

# bg_release_app_check APP SCRIPT: pm2 runs APP from SCRIPT (the path through the link, not where it points).
bg_release_app_check() {
  bg_rc_s=$(bg_release_app_def "$1" | sed -n 's/^script=//p')
  [ "$bg_rc_s" = "$2" ] || { echo "bg: pm2 runs $1 from ${bg_rc_s:-nothing}, not $2" >&2; exit 1; }
  echo "$1 runs $2"
}

# bg_release_app_undo SD APP WAIT_S: APP as before the step: removed, re-defined on its old script, or restarted on what the link points at again.
bg_release_app_undo() {
  bg_ra_b="$1/app-before"
  [ -f "$bg_ra_b" ] || { echo "nothing to undo: the step never started"; exit 0; }
  bg_ra_now=$(bg_release_app_def "$2" | sed -n 's/^script=//p')
  if [ "$(bg_release_app_field "$bg_ra_b" exists)" != 1 ]; then
    [ -z "$bg_ra_now" ] || pm2 delete "$2" >/dev/null || exit 1
    echo "removed $2 from pm2 (it was not there before)"; exit 0
  fi
  bg_ra_s=$(bg_release_app_field "$bg_ra_b" script)
  if [ "$bg_ra_now" = "$bg_ra_s" ]; then pm2 restart "$2" --update-env >/dev/null || exit 1
  else
    [ -z "$bg_ra_now" ] || pm2 delete "$2" >/dev/null || exit 1
    bg_release_pm2_start "$2" "$bg_ra_s" "$(bg_release_app_field "$bg_ra_b" cwd)" "$(bg_release_app_field "$bg_ra_b" mode)" "$(bg_release_app_field "$bg_ra_b" instances)" || exit 1
  fi
  if [ "$(bg_release_app_field "$bg_ra_b" status)" != online ]; then pm2 stop "$2" >/dev/null || exit 1; echo "$2 back on $bg_ra_s, stopped as before"; exit 0; fi
  bg_pm2_wait_online "$2" "$3" || exit 1
  echo "$2 runs $(readlink -f -- "$bg_ra_s") again"
}

# bg_restore_db_asked: whether `bg rollback --restore-db` asked for the release's database changes to be undone.
bg_restore_db_asked() { [ "${BG_RESTORE_DB-}" = 1 ]; }

# bg_release_listing git|archive RELDIR REPO|ARCHIVE REF SUBDIR DB SQL MISSING: the migrate gate's listing (bg_migration_listing) of the release's migrations, read before it is fetched.
bg_release_listing() {
  bg_rl_t=$(mktemp -d) || return 1
  trap 'rm -rf "$bg_rl_t"' EXIT
  case $1 in
    git)
      bg_rl_c=$(bg_release_git_cache "$2" "$3") || return 1
      bg_rl_sha=$(bg_release_git_commit "$bg_rl_c" "$4") || return 1
      git --git-dir="$bg_rl_c" archive --format=tar -- "$bg_rl_sha" | tar -x -C "$bg_rl_t" || return 1 ;;
    archive)
      [ -f "$3" ] || { echo "bg: the release archive is uploaded by bg run (not by bg plan --check): cannot lint its migrations yet" >&2; return 1; }
      tar -x -f "$3" -C "$bg_rl_t" || return 1 ;;
  esac
  bg_rl_r=$bg_rl_t
  if bg_rl_one=$(bg_release_one_dir "$bg_rl_t"); then bg_rl_r="$bg_rl_t/$bg_rl_one"; fi
  bg_migration_listing "$bg_rl_r/$5" "$6" "$7" "$8"
}

# bg_release_gate URL TRIES APP STABLE_S: the released color answers its health URL and its pm2 app stays up (bg_switch_gate).
bg_release_gate() { bg_switch_gate "$@"; }

# shellcheck disable=SC2016 # awk text
BG_STAT_AWK='NR == 1 { sub(/^# */, ""); for (i = 1; i <= NF; i++) col[$i] = i; next } $col["pxname"] == ENVIRON["BG_BE"] && $col["svname"] == "BACKEND" { print $col["hrsp_5xx"] + 0, ($col["hrsp_1xx"] + $col["hrsp_2xx"] + $col["hrsp_3xx"] + $col["hrsp_4xx"] + $col["hrsp_5xx"] + $col["hrsp_other"]) + 0 }'

# bg_proxy_counts SOCKET BACKEND: "5XX RESPONSES" so far of BACKEND, from HAProxy's counters (show stat).
bg_proxy_counts() {
  bg_pc_a=$(bg_proxy_send "$1" "show stat") || return 1
  bg_pc_c=$(printf '%s\n' "$bg_pc_a" | BG_BE="$2" awk -F, "$BG_STAT_AWK")
  [ -n "$bg_pc_c" ] || { echo "bg: HAProxy's counters have no backend $2" >&2; return 1; }
  printf '%s\n' "$bg_pc_c"
}

# bg_release_watch SOCKET MAP LIVE_BE OTHER_BE WINDOW_S INTERVAL_S MAX_RATE_PCT MIN_REQUESTS: watch LIVE_BE's 5xx share; past MAX_RATE_PCT, switch live back to OTHER_BE and fail.
bg_release_watch() {
  bg_rw_base=$(bg_proxy_counts "$1" "$3") || exit 1
  bg_rw_e=0 bg_rw_n=0
  bg_rw_end=$(( $(date +%s) + $5 ))
  while [ "$(date +%s)" -lt "$bg_rw_end" ]; do
    sleep "$6"
    bg_rw_now=$(bg_proxy_counts "$1" "$3") || exit 1
    bg_rw_e=$(( ${bg_rw_now% *} - ${bg_rw_base% *} )) bg_rw_n=$(( ${bg_rw_now#* } - ${bg_rw_base#* } ))
    if [ "$bg_rw_n" -ge "$8" ] && [ $(( bg_rw_e * 100 )) -gt $(( $7 * bg_rw_n )) ]; then
      bg_proxy_set "$1" "$2" "$4" "$3" >&2 || { echo "bg: ${3#be_} answered $bg_rw_e 5xx of $bg_rw_n, and switching back FAILED" >&2; exit 1; }
      printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "${4#be_}" > "$2.switched.bg-tmp" && mv -f -- "$2.switched.bg-tmp" "$2.switched"
      echo "bg: ${3#be_} answered $bg_rw_e 5xx of $bg_rw_n responses (over $7%): switched live back to ${4#be_}" >&2; exit 1
    fi
  done
  echo "${3#be_} answered $bg_rw_e 5xx of $bg_rw_n responses in $5 s (threshold $7%)"
}

# bg_release_prune RUNS KEEP DIR...: in each DIR/releases keep the newest KEEP releases, the one DIR/current points at, and those an undo not yet run puts back.
bg_release_prune() {
  bg_rp_runs=$1 bg_rp_keep=$2; shift 2
  # Releases a journal still needs: the previous target recorded by a link step that is not undone.
  bg_rp_need=$(cd "$bg_rp_runs" 2>/dev/null && for f in */steps/*/link-target; do
    [ -f "$f" ] || continue
    r=${f%%/*}; n=${f#*/steps/}; n=${n%%/*}
    case $n in ''|*[!0-9]*) continue ;; esac
    grep -q '"event":"undone","step":'"$n"'[,}]' "$r/log" 2>/dev/null && continue
    cat "$f"; echo
  done)
  for bg_rp_d in "$@"; do
    [ -d "$bg_rp_d/releases" ] || continue
    bg_rp_cur=$(readlink -- "$bg_rp_d/current" 2>/dev/null)
    # Release ids are run ids (UTC time first): by name is by age. Dot-names are bg's own.
    # shellcheck disable=SC2010 # names are bg's run ids
    ls -1 "$bg_rp_d/releases" | grep -v '^\.' | grep -v '\.bg-release$' | sort -r | tail -n +"$((bg_rp_keep + 1))" | while IFS= read -r bg_rp_id; do
      [ -d "$bg_rp_d/releases/$bg_rp_id" ] || continue
      if [ "$bg_rp_cur" = "releases/$bg_rp_id" ]; then echo "kept $bg_rp_d/releases/$bg_rp_id: current"; continue; fi
      if printf '%s\n' "$bg_rp_need" | grep -qxF -- "releases/$bg_rp_id"; then echo "kept $bg_rp_d/releases/$bg_rp_id: an undo not yet run puts it back"; continue; fi
      rm -rf -- "${bg_rp_d:?}/releases/$bg_rp_id" && rm -f -- "$bg_rp_d/releases/$bg_rp_id.bg-release" && echo "pruned $bg_rp_d/releases/$bg_rp_id"
    done
  done
  echo "releases pruned (keep $bg_rp_keep per color)"
}

# bg_release_status DIR: key=value lines about DIR/current: the release, its source and ref, when the link was set.
bg_release_status() {
  [ -L "$1/current" ] || return 0
  bg_rs_t=$(readlink -- "$1/current")
  bg_rs_id=${bg_rs_t#releases/}
  echo "release=$bg_rs_id"
  # The link's own time (not its target's): when bg pointed it at this release.
  echo "release_deployed=$(date -u -d "@$(stat -c %Y -- "$1/current")" +%Y-%m-%dT%H:%M:%SZ)"
  [ ! -f "$1/releases/$bg_rs_id.bg-release" ] || sed -n 's/^\(source\|ref\|commit\|sha256\)=/release_\1=/p' "$1/releases/$bg_rs_id.bg-release"
}
