import type { Argv } from 'yargs';
import { UsageError } from '../errors.js';

/**
 * yargs gives an array when a flag is repeated and NaN for a number that is not one: every
 * option bg reads goes through one of these, so a handler only ever sees the declared type.
 */

/** `--host a --host b` means `--host a,b`. */
export function hostList(flag: string) {
  return (v: unknown): string => {
    const parts = (Array.isArray(v) ? v : [v]).map((x) => (x === undefined || x === null ? '' : String(x)));
    const joined = parts.join(',');
    if (!joined.split(',').some((s) => s.trim())) throw new UsageError(`--${flag} needs at least one host name`);
    return joined;
  };
}

/** A flag that takes one value: repeating it with the same value is harmless, different values are a mistake. */
export function single(flag: string) {
  return (v: unknown): string => {
    const values = [...new Set((Array.isArray(v) ? v : [v]).map((x) => String(x ?? '')))];
    if (values.length > 1) throw new UsageError(`--${flag} was given ${values.length} different values (${values.map((x) => JSON.stringify(x)).join(', ')}); give it once`);
    return values[0] ?? '';
  };
}

/** The last value of a repeated boolean flag wins (`--no-rollback --rollback` is `--rollback`). */
export function lastBoolean(v: unknown): boolean {
  const last = Array.isArray(v) ? v[v.length - 1] : v;
  return last === true || last === 'true';
}

/**
 * A number within bounds, or exit 2 naming the flag. `max` keeps every value a Node timer can
 * take (2^31-1 ms ≈ 24.8 days) and what a person could mean.
 */
export function boundedNumber(flag: string, opts: { min: number; max: number; integer?: boolean; unit?: string }) {
  return (v: unknown): number => {
    const values = [...new Set((Array.isArray(v) ? v : [v]).map((x) => (typeof x === 'number' ? x : Number(x))))];
    const what = `${opts.integer ? 'a whole number' : 'a number'}${opts.unit ? ` of ${opts.unit}` : ''} from ${opts.min} to ${opts.max}`;
    if (values.length !== 1) throw new UsageError(`--${flag} was given more than once with different values; give it once (${what})`);
    const n = values[0]!;
    if (!Number.isFinite(n) || n < opts.min || n > opts.max || (opts.integer && !Number.isInteger(n)))
      throw new UsageError(`--${flag} must be ${what}; got ${Number.isNaN(n) ? 'something that is not a number' : String(n)}`);
    return n;
  };
}

/** Longest wait any flag accepts: a day, well under the Node timer limit (~24.8 days). */
export const MAX_WAIT_SECONDS = 86_400;

export const lockWaitOption = {
  type: 'number' as const,
  coerce: boundedNumber('lock-wait', { min: 0, max: MAX_WAIT_SECONDS, unit: 'seconds' }),
};

/**
 * The playbook of `bg run`/`bg plan`, also after `--` (`bg run -- -odd.yaml`), where yargs puts it
 * in `_`: exactly one, else exit 2 (a second name after `--` was silently ignored before).
 */
export function playbookArg<T extends { playbook?: unknown; _: Array<string | number> }>(a: T): T & { playbook: string } {
  const given = [...(a.playbook === undefined ? [] : [String(a.playbook)]), ...a._.slice(1).map(String)];
  if (given.length === 0) throw new UsageError('name a playbook: a name from ./playbooks or the built-ins, or a path (after -- when it starts with -)');
  if (given.length > 1) throw new UsageError(`one playbook at a time; got ${given.map((x) => JSON.stringify(x)).join(', ')}`);
  return { ...a, playbook: given[0]! };
}

/** Options shared by `bg run` and `bg plan`. */
export function planOptions<T>(y: Argv<T>) {
  return y
    .positional('playbook', { type: 'string', describe: 'Playbook name (./playbooks/NAME.yaml or built-in) or path (after -- when it starts with -)', coerce: single('playbook') })
    .option('host', { alias: 'H', type: 'string', demandOption: true, describe: 'Host(s) or group(s) from the inventory, comma-separated (or repeated)', coerce: hostList('host') })
    .option('var', { type: 'string', array: true, describe: 'Set a playbook variable: --var NAME=value (repeatable)', coerce: (v: unknown) => (Array.isArray(v) ? v : [v]).map((x) => String(x ?? '')) })
    .option('json', { type: 'boolean', coerce: lastBoolean, describe: 'JSON: the plan (plan, --dry-run: an array, one plan per host), or one event per line (run)' })
    .option('check', { type: 'boolean', coerce: lastBoolean, describe: 'With plan or --dry-run: connect and run the read-only pre-flight checks (reachable, lock free, tools, databases, disk); exit 1 if one fails' })
    .option('allow-breaking', { type: 'boolean', coerce: lastBoolean, describe: 'Run migrations that bg lint finds breaking for the version still running (they are still reported)' })
    .option('accept-new-host-key', { type: 'boolean', coerce: lastBoolean, describe: 'Trust and record the key of a host not yet in known_hosts (a changed key is always refused)' });
}

/**
 * The output flags as given, read before yargs parses (colours must be settled before listr2
 * loads, the GitHub stream guard before anything prints). Only options before `--` count; the last
 * of `--color`/`--no-color` wins, as in yargs.
 */
export function earlyOutputFlags(argv: readonly string[]): { ci?: boolean; json?: boolean; color?: boolean } {
  const end = argv.indexOf('--');
  const opts = end < 0 ? argv : argv.slice(0, end);
  const flags: { ci?: boolean; json?: boolean; color?: boolean } = {};
  for (const a of opts) {
    if (a === '--ci') flags.ci = true;
    else if (a === '--no-ci') flags.ci = false;
    else if (a === '--json') flags.json = true;
    else if (a === '--no-json') flags.json = false;
    else if (a === '--color') flags.color = true;
    else if (a === '--no-color') flags.color = false;
  }
  return flags;
}
