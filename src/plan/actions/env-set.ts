import { z } from 'zod';
import { PlanProblem, type ActionDef } from '../action.js';
import { pm2App } from '../pm2-sh.js';
import { joinPath, quotePath, shellQuote } from '../quote.js';
import { call } from '../sh-lib.js';
import { stepDir } from '../step-dir.js';
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

// The dotenv editing (awk over the file read whole, the way dotenv reads quoted values that span
// lines; values in ENVIRON, never in -v or the program text) is in src/remote/envfile.sh.

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
    const [sd, f, k] = [quotePath(stepDir(input)), quotePath(file), shellQuote(p.key)];
    const a = app === undefined ? undefined : shellQuote(app);
    const capture = call('bg_env_capture', sd, f, k, a);
    const run = call('bg_env_set', sd, f, k, shellQuote(line));
    const verify = call('bg_env_check', f, k, shellQuote(line));
    const undo = call('bg_env_undo', sd, f, k, a);
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
