// Shell functions about processes: pm2 apps (through `pm2 jlist`, parsed with the host's node)
// and which processes have a file open (through /proc/PID/fd, compared by inode, so a file that
// was renamed or replaced after it was opened is still found).
import { PlanProblem } from './action.js';
import { shellQuote } from './quote.js';
import { script, shFn, shLib } from './sh-lib.js';
import type { Command } from './types.js';

// Reads `pm2 jlist` on stdin, prints "pid status restarts" for every process named argv[1]
// (node is called as `node -e JS -- NAME`: without `--` a NAME like `--eval=…` is a node option).
// pm2 may print notices ("[PM2] Spawning PM2 daemon…") around the one JSON line.
const JLIST_JS = `let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const l=s.split("\\n").reverse().find(x=>/^\\s*\\[(\\{|\\])/.test(x));if(l===undefined){console.error("bg: pm2 jlist printed no process list");process.exit(3)}let a;try{a=JSON.parse(l)}catch(e){console.error("bg: cannot parse pm2 jlist: "+e.message);process.exit(3)}for(const p of a){if(p.name!==process.argv[1])continue;const e=p.pm2_env||{};console.log((p.pid||0)+" "+(e.status||"unknown")+" "+(e.restart_time||0))}})`;

/** How long one `pm2 jlist` may take (a pm2 call costs ~140 ms; a busy host, a few seconds). */
const PM2_JLIST_TIMEOUT_S = 30;

/** `bg_pm2_procs APP`: one line "pid status restarts" per pm2 process of APP (none if pm2 does not know it). */
export const BG_PM2_PROCS = shFn(
  'bg_pm2_procs',
  [
    `bg_pm2_procs() {`,
    `  command -v pm2 >/dev/null 2>&1 || { echo "bg: pm2 is not on PATH (set the host's path: or environment:)" >&2; return 3; }`,
    // Every pm2 command starts a daemon when none runs for PM2_HOME, and several started at once
    // race (one never answers): a read never starts one. No daemon means no app is known to pm2.
    `  bg_h=\${PM2_HOME:-$HOME/.pm2}; bg_d=$(cat "$bg_h/pm2.pid" 2>/dev/null)`,
    `  case $bg_d in ''|*[!0-9]*) bg_d=;; esac`,
    `  [ -n "$bg_d" ] && [ -d "/proc/$bg_d" ] && [ -S "$bg_h/rpc.sock" ] || { echo "bg: pm2 daemon not running for PM2_HOME=$bg_h (check PM2_HOME in the host's environment:)" >&2; return 3; }`,
    // Bounded: a daemon that does not answer must not hang bg (coreutils timeout; --foreground keeps
    // pm2 in bg's process group, so a Ctrl-C or a timeout of the whole command still reaches it).
    `  if command -v timeout >/dev/null 2>&1; then bg_j=$(timeout --foreground -k 5 ${PM2_JLIST_TIMEOUT_S} pm2 jlist 2>/dev/null); else bg_j=$(pm2 jlist 2>/dev/null); fi`,
    `  bg_rc=$?; [ "$bg_rc" -eq 0 ] || { [ "$bg_rc" -eq 124 ] && echo "bg: pm2 jlist did not answer within ${PM2_JLIST_TIMEOUT_S} s (bound: the pm2 probe's timeout; PM2_HOME=$bg_h)" >&2 || echo "bg: pm2 jlist failed (exit $bg_rc, PM2_HOME=$bg_h)" >&2; return 3; }`,
    `  printf '%s\\n' "$bg_j" | node -e ${shellQuote(JLIST_JS)} -- "$1"`,
    `}`,
  ].join('\n'),
);

/** `bg_pm2_wait_online APP SECONDS`: until APP has processes and all are online (prints them). */
export const BG_PM2_WAIT_ONLINE = shFn(
  'bg_pm2_wait_online',
  [
    `bg_pm2_wait_online() {`,
    `  bg_n=$(( $2 * 5 ))`,
    `  while :; do`,
    `    bg_p=$(bg_pm2_procs "$1") || return 1`,
    `    if [ -n "$bg_p" ] && ! printf '%s\\n' "$bg_p" | grep -qv ' online '; then return 0; fi`,
    `    bg_n=$((bg_n - 1))`,
    `    [ "$bg_n" -gt 0 ] || { echo "bg: pm2 app $1 is not online after $2 s (pid status restarts: $(printf '%s' "$bg_p" | tr '\\n' ';'))" >&2; return 1; }`,
    `    sleep 0.2`,
    `  done`,
    `}`,
  ].join('\n'),
  [BG_PM2_PROCS],
);

/**
 * `bg_holders FILE`: pids (space-separated) of the processes that have FILE open, by inode.
 * find itself is in the list it walks (the glob is expanded in its process) and holds FILE open
 * for -samefile: a pid that is gone when find has finished is dropped.
 */
export const BG_HOLDERS = shFn(
  'bg_holders',
  `bg_holders() { [ -e "$1" ] || return 0; for bg_hp in $(find -L /proc/[0-9]*/fd -maxdepth 1 -samefile "$1" 2>/dev/null | cut -d/ -f3 | sort -un); do [ ! -d "/proc/$bg_hp" ] || printf '%s ' "$bg_hp"; done; }`,
);

/** `bg_describe_pids PID...`: "  PID: command line" per process (for messages). */
export const BG_DESCRIBE_PIDS = shFn(
  'bg_describe_pids',
  `bg_describe_pids() { for bg_pid in "$@"; do printf '  %s: %s\\n' "$bg_pid" "$(tr '\\0' ' ' < /proc/"$bg_pid"/cmdline 2>/dev/null)"; done; }`,
);

/** `bg_wait_released SECONDS FILE...`: until no process has any FILE open; else names the holders. */
export const BG_WAIT_RELEASED = shFn(
  'bg_wait_released',
  [
    `bg_wait_released() {`,
    `  bg_n=$(( $1 * 5 )); shift`,
    `  while :; do`,
    `    bg_h=''`,
    `    for bg_f in "$@"; do bg_h="$bg_h$(bg_holders "$bg_f")"; done`,
    `    [ -n "$bg_h" ] || return 0`,
    `    bg_n=$((bg_n - 1))`,
    `    if [ "$bg_n" -le 0 ]; then`,
    `      echo "bg: still open by process(es) $bg_h: $*" >&2`,
    `      bg_describe_pids $bg_h >&2`,
    `      return 1`,
    `    fi`,
    `    sleep 0.2`,
    `  done`,
    `}`,
  ].join('\n'),
  [BG_HOLDERS, BG_DESCRIBE_PIDS],
);

/**
 * Why pm2 would not read APP as the name of one app, or undefined. pm2 7 has no safe way to pass
 * such a name: `pm2 restart -- NAME` restarts nothing and exits 0, `pm2 start -- NAME` looks for
 * an ecosystem file; `all`, a number, a file name or /regex/ select other processes.
 */
export function pm2NameProblem(app: string): string | undefined {
  if (app.startsWith('-')) return 'starts with `-`: pm2 would read it as an option';
  if (app === 'all') return '`all` means every app to pm2';
  if (/^[0-9]+$/.test(app)) return 'only digits: pm2 would read it as a process id';
  if (/\.(c|m)?js$|\.json$|\.ya?ml$/i.test(app)) return 'ends like a file name: pm2 would read it as a script or ecosystem file';
  if (app.length > 1 && app.startsWith('/') && app.endsWith('/')) return 'pm2 would read /…/ as a regular expression';
  if (/[\u0000-\u001f\u007f]/.test(app)) return 'holds a control character';
  return undefined;
}

/** APP if pm2 can take it as one app's name; otherwise a plan-time problem at `field`. */
export function pm2App(app: string, field: Array<string | number>, origin: string): string {
  const problem = pm2NameProblem(app);
  if (problem) throw new PlanProblem(`pm2 app name ${JSON.stringify(app)} (${origin}) ${problem}; bg refuses it`, field);
  return app;
}

/** Pre-flight: pm2 knows APP (bg starts, stops and restarts apps; it never creates them). */
export function pm2AppKnown(app: string): Command {
  return {
    cmd: script(
      `app=${shellQuote(app)}`,
      shLib(BG_PM2_PROCS),
      'procs=$(bg_pm2_procs "$app") || exit 1',
      `[ -n "$procs" ] || { echo "bg: pm2 knows no app named $app (check PM2_HOME in the host's environment:)" >&2; exit 1; }`,
      `printf '%s: %s\\n' "$app" "$(printf '%s\\n' "$procs" | awk '{ print $2 }' | sort | uniq -c | awk '{ printf "%s%s %s", (n++ ? ", " : ""), $1, $2 }')"`,
    ),
    label: `pm2 knows the app ${app}`,
  };
}
