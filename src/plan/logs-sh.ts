// Read-only shell behind `bg logs`: where pm2 writes an app's logs (from `pm2 jlist`, never
// starting a daemon: see bg_pm2_procs in src/remote/pm2.sh), and bounded reads of those files. bg reads the files
// rather than `pm2 logs --nostream`, which prints coloured headers to stdout, interleaves the two
// files unpredictably and exits 0 for an app it does not know.
import { quotePath, shellQuote } from './quote.js';
import { script } from './sh-lib.js';

// Reads `pm2 jlist` on stdin; prints {"out":[...],"err":[...]}: the log files of every process named argv[1].
const PATHS_JS = `let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const l=s.split("\\n").reverse().find(x=>/^\\s*\\[(\\{|\\])/.test(x));if(l===undefined){console.error("bg: pm2 jlist printed no process list");process.exit(3)}const o=new Set(),e=new Set();for(const p of JSON.parse(l)){if(p.name!==process.argv[1])continue;const v=p.pm2_env||{};if(v.pm_out_log_path)o.add(v.pm_out_log_path);if(v.pm_err_log_path)e.add(v.pm_err_log_path)}console.log(JSON.stringify({out:[...o],err:[...e]}))})`;

/** Exit 3 with a message when pm2 (its daemon) or the app is not there; else the JSON of its log files. */
export function logPathsScript(app: string): string {
  return script(
    `app=${shellQuote(app)}`,
    'procs=$(bg_pm2_procs "$app") || exit 3',
    `[ -n "$procs" ] || { echo "bg: pm2 knows no app named $app (check PM2_HOME in the host's environment:)" >&2; exit 3; }`,
    // bg_pm2_procs has just checked that the daemon runs: this jlist starts none. Bounded like it.
    'if command -v timeout >/dev/null 2>&1; then j=$(timeout --foreground -k 5 30 pm2 jlist 2>/dev/null); else j=$(pm2 jlist 2>/dev/null); fi || { echo "bg: pm2 jlist failed" >&2; exit 3; }',
    `printf '%s\\n' "$j" | node -e ${shellQuote(PATHS_JS)} -- "$app"`,
  );
}

/** `@@size BYTES` (-1: no such file), then the last `lines` lines of the file as it was at that size. */
export function tailScript(file: string, lines: number): string {
  return script(
    `f=${quotePath(file)}`,
    '[ -f "$f" ] || { echo "@@size -1"; exit 0; }',
    's=$(wc -c < "$f" | tr -d \' \')',
    'echo "@@size $s"',
    `head -c "$s" -- "$f" | tail -n ${Math.trunc(lines)}`,
  );
}

/**
 * One header line `@@size BYTES ROTATED SKIPPED`, then what was written after byte `offset`, then `@@end` (at
 * most `max` bytes: with more, SKIPPED bytes are skipped and only the newest `max` read). A file
 * smaller than `offset` was rotated or truncated: ROTATED is 1 and it is read from its start.
 */
export function pollScript(file: string, offset: number, max: number): string {
  const m = Math.trunc(max);
  return script(
    `f=${quotePath(file)}; off=${Math.trunc(offset)}; rot=0; skip=0`,
    '[ -f "$f" ] || { echo "@@size -1 0 0"; exit 0; }',
    's=$(wc -c < "$f" | tr -d \' \')',
    '[ "$s" -ge "$off" ] || { rot=1; off=0; }',
    `n=$((s - off)); [ "$n" -le ${m} ] || { skip=$((n - ${m})); off=$((s - ${m})); n=${m}; }`,
    'echo "@@size $s $rot $skip"',
    // `@@end` last: transports drop a final newline, which here is part of the log.
    '[ "$n" -le 0 ] || tail -c +$((off + 1)) -- "$f" | head -c "$n"',
    "printf '@@end'",
  );
}
