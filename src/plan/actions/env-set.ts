import { z } from 'zod';
import { PlanProblem, type ActionDef } from '../action.js';
import { BG_PM2_PROCS, BG_PM2_WAIT_ONLINE, pm2App } from '../pm2-sh.js';
import { joinPath, quotePath, shellQuote } from '../quote.js';
import { script, shLib } from '../sh-lib.js';
import { stepDirVar } from '../step-dir.js';
import { dirExists } from '../preflight.js';

// `<name>` is the planner's placeholder for a required variable not given (reported on its own).
const KEY = /^(?:[A-Za-z_][A-Za-z0-9_]*|<[A-Za-z_][A-Za-z0-9_]*>)$/;

const params = z
  .object({
    key: z.string({ error: '`with.key` is required' }).regex(KEY, 'a variable name: letters, digits and _, not starting with a digit'),
    value: z.union([z.string(), z.number(), z.boolean()], { error: '`with.value` is required' }).transform(String),
    /** The dotenv file; default: the env's `env_file` (`.env` in its dir). Relative to the env's dir. */
    file: z.string().min(1).optional(),
    /** On undo, if the app was restarted after the line was set, restart it again (with --update-env). */
    restart_on_undo: z.boolean().default(true),
  })
  .strict();

/**
 * The dotenv line for KEY=value, written so that dotenv parsers (npm dotenv, python-dotenv,
 * docker compose, the example app) read back exactly `value`:
 *   - plain when the value has only characters no parser treats specially;
 *   - otherwise in single quotes (literal everywhere: no escapes, no `$` expansion);
 *   - a value holding `'` goes in double quotes, and then must not hold `"`, `\`, `$` or a backquote
 *     (parsers disagree on escapes inside double quotes);
 *   - newlines are refused: parsers disagree on multi-line values; so is a final `\` (see below).
 */
export function dotenvLine(key: string, value: string): string {
  if (/[\r\n]/.test(value)) throw new PlanProblem('a .env value must be one line (no newline)', ['with', 'value']);
  if (/^[A-Za-z0-9_\/.,:=@%+-]*$/.test(value)) return `${key}=${value}`;
  // `\` right before the closing quote: npm dotenv reads `\'` as an escaped quote and the value
  // as going on to a later line (node's parseEnv does not): no quoting reads back the same.
  if (value.endsWith('\\')) throw new PlanProblem('a .env value that needs quotes cannot end with `\\`: dotenv parsers disagree on where it ends', ['with', 'value']);
  if (!value.includes("'")) return `${key}='${value}'`;
  if (/["\\$`]/.test(value))
    throw new PlanProblem('a .env value cannot hold both `\'` and one of `"` `\\` `$` `` ` ``: no quoting reads that back the same in every dotenv parser', ['with', 'value']);
  return `${key}="${value}"`;
}

// awk over a dotenv file, read whole so that a quoted value can be followed across lines the way
// dotenv reads it: a value whose first character is ", ' or ` and that does not close on its line
// goes on to the first later line holding that quote not preceded by `\` (none: it is one line).
// Lines inside such a value define nothing. keyof: the key a line defines (`KEY=…`, `KEY = …`,
// `export KEY=…`, leading blanks; a key is what dotenv accepts), or "" (comments, other text).
// Each program defines block(KEY, FIRST, LAST) for every definition (or other line) and finish().
// Values travel in ENVIRON, never in -v (which processes backslash escapes) or the program text.
const DOTENV_AWK = [
  'function keyof(l,  i, k) { sub(/^[ \\t]+/, "", l); if (l ~ /^export[ \\t]/) sub(/^export[ \\t]+/, "", l); i = index(l, "="); if (i == 0) return ""; k = substr(l, 1, i - 1); sub(/[ \\t]+$/, "", k); return k ~ /^[A-Za-z0-9_.-]+$/ ? k : "" }',
  'function closes(s, q,  i) { for (i = 1; i <= length(s); i++) if (substr(s, i, 1) == q && (i == 1 || substr(s, i - 1, 1) != "\\\\")) return 1; return 0 }',
  'function opens(l,  v, q) { v = substr(l, index(l, "=") + 1); sub(/^[ \\t]+/, "", v); q = substr(v, 1, 1); if (q != "\\"" && q != sprintf("%c", 39) && q != "`") return ""; return closes(substr(v, 2), q) ? "" : q }',
  '{ line[++n] = $0 }',
  'END { for (i = 1; i <= n; i++) { k = keyof(line[i]); last = i; if (k != "") { q = opens(line[i]); if (q != "") for (j = i + 1; j <= n; j++) if (closes(line[j], q)) { last = j; break } } block(k, i, last); i = last } finish() }',
].join('\n');
// Replace the first definition of the key with BG_LINE (or append it), drop other definitions.
const SET_AWK = `${DOTENV_AWK}\nfunction block(k, a, b,  i) { if (k == ENVIRON["BG_KEY"]) { if (!done) print ENVIRON["BG_LINE"]; done = 1 } else for (i = a; i <= b; i++) print line[i] }\nfunction finish() { if (!done) print ENVIRON["BG_LINE"] }`;
// Put back the saved definitions (file BG_SAVED, may be empty) where the first definition is now.
const RESTORE_AWK = `${DOTENV_AWK}\nfunction block(k, a, b,  i, s) { if (k == ENVIRON["BG_KEY"]) { if (!done && ENVIRON["BG_SAVED"] != "") while ((getline s < ENVIRON["BG_SAVED"]) > 0) print s; done = 1 } else for (i = a; i <= b; i++) print line[i] }\nfunction finish() {}`;
// Every line of every definition of the key.
const LIST_AWK = `${DOTENV_AWK}\nfunction block(k, a, b,  i) { if (k == ENVIRON["BG_KEY"]) for (i = a; i <= b; i++) print line[i] }\nfunction finish() {}`;

/** Set KEY=value in the env's .env (created if missing); undo restores the previous definition. */
export const envSetAction: ActionDef<z.output<typeof params>> = {
  name: 'env-set',
  summary: "set KEY=value in the env's .env file; undo puts the previous line back",
  env: 'required',
  params,
  build(input) {
    const { params: p, env } = input;
    if (!env) throw new PlanProblem('this action needs `env:`', ['env']);
    const file = p.file ? joinPath(env.dir, p.file) : env.envFile;
    const line = dotenvLine(p.key, p.value);
    const app = p.restart_on_undo && env.app !== undefined ? pm2App(env.app, ['env'], `env ${env.name}'s app in the inventory`) : undefined;
    const head = script(
      stepDirVar(input),
      `file=${quotePath(file)}; key=${shellQuote(p.key)}`,
      // A .env that is a symlink (e.g. to a shared config) is edited where it points.
      'real=$(readlink -f -- "$file" 2>/dev/null || true); [ -n "$real" ] || real=$file',
    );
    const list = `BG_KEY="$key" awk ${shellQuote(LIST_AWK)} < "$real"`;

    const capture = script(
      head,
      app ? `app=${shellQuote(app)}` : '',
      app ? shLib(BG_PM2_PROCS) : '',
      'mkdir -p "$sd"',
      app ? '{ bg_pm2_procs "$app" 2>/dev/null || true; } > "$sd/pm2-before"' : '',
      'if [ -f "$real" ]; then',
      // The whole file too (mode kept: it may hold secrets), for a byte-exact undo.
      '  cp -p -- "$real" "$sd/env-before" || exit 1',
      `  ${list} > "$sd/env-lines" || exit 1`,
      '  if [ -s "$sd/env-lines" ]; then echo present; else echo absent; fi > "$sd/env-state"',
      'else',
      '  : > "$sd/env-lines"; echo nofile > "$sd/env-state"',
      'fi',
    );
    const run = script(
      head,
      `line=${shellQuote(line)}`,
      // A new .env may hold secrets: readable by its owner only.
      '[ -f "$real" ] || ( umask 077 && : > "$real" ) || exit 1',
      `BG_KEY="$key" BG_LINE="$line" awk ${shellQuote(SET_AWK)} < "$real" > "$real.bg-tmp" || exit 1`,
      'chmod --reference="$real" "$real.bg-tmp" 2>/dev/null || true',
      'mv -f -- "$real.bg-tmp" "$real" || exit 1',
      // What bg wrote: if the file still is exactly that at undo time, undo puts the old bytes back.
      'cksum < "$real" > "$sd/env-after"',
      'echo "set $key in $real"',
    );
    const verify = script(
      head,
      `line=${shellQuote(line)}`,
      `got=$(${list}) || exit 1`,
      '[ "$got" = "$line" ] || { echo "bg: expected exactly the line $line in $real, found: ${got:-nothing}" >&2; exit 1; }',
      'echo "$real: $line"',
    );
    const undo = script(
      head,
      app ? `app=${shellQuote(app)}` : '',
      app ? shLib(BG_PM2_WAIT_ONLINE) : '',
      '[ -f "$sd/env-state" ] || { echo "nothing to undo: the step never started"; exit 0; }',
      'state=$(cat "$sd/env-state")',
      // Nobody changed the file since bg wrote it: put back the very bytes it had (or remove it).
      'if [ -f "$real" ] && [ -f "$sd/env-after" ] && [ "$(cksum < "$real")" = "$(cat "$sd/env-after")" ]; then',
      '  if [ "$state" = nofile ]; then rm -f -- "$real"; echo "removed $real (bg had created it)";',
      '  else cp -p -- "$sd/env-before" "$real.bg-tmp" && mv -f -- "$real.bg-tmp" "$real" || exit 1; echo "restored $real as it was"; fi',
      // Otherwise only bg's line is replaced by the previous one(s), keeping the other changes.
      'elif [ -f "$real" ]; then',
      '  saved=""; [ "$state" != present ] || saved="$sd/env-lines"',
      `  BG_KEY="$key" BG_SAVED="$saved" awk ${shellQuote(RESTORE_AWK)} < "$real" > "$real.bg-tmp" || exit 1`,
      '  chmod --reference="$real" "$real.bg-tmp" 2>/dev/null || true',
      '  mv -f -- "$real.bg-tmp" "$real" || exit 1',
      // bg created the file: remove it again if nothing else was written to it.
      `  if [ "$state" = nofile ] && [ -z "$(tr -d '[:space:]' < "$real")" ]; then rm -f -- "$real"; echo "removed $real (bg had created it)"; else echo "restored the previous $key line in $real"; fi`,
      'fi',
      app
        ? script(
            // The app was restarted after the line was set (its pids changed): it runs with the new
            // value, so restart it once more to give it the restored one.
            'if [ -s "$sd/pm2-before" ]; then',
            '  now=$(bg_pm2_procs "$app" 2>/dev/null || true)',
            `  if [ "$(awk '{ print $1 }' "$sd/pm2-before")" != "$(printf '%s\\n' "$now" | awk 'NF { print $1 }')" ] && printf '%s\\n' "$now" | grep -q ' online '; then`,
            '    pm2 restart "$app" --update-env >/dev/null || exit 1',
            '    bg_pm2_wait_online "$app" 30 || exit 1',
            '    echo "restarted $app (--update-env) so that it runs with the restored value"',
            '  fi',
            'fi',
          )
        : '',
    );
    return {
      mutates: true,
      preflight: [dirExists(env.dir)],
      capture: [{ cmd: capture, label: `save the current ${p.key} line of ${file}` }],
      run: [{ cmd: run, label: `set ${line} in ${file}` }],
      verify: [{ cmd: verify, label: `${file} defines ${p.key} once, as ${line}` }],
      undo: [{ cmd: undo, label: `put back the previous ${p.key} line${app ? ` (and restart ${app} if it was restarted meanwhile)` : ''}` }],
    };
  },
};
