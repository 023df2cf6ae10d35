import { UsageError } from '../errors.js';

/** Parse repeated `--var NAME=value` flags. The value may contain anything, `=` included. */
export function parseVars(flags: readonly string[] = []): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const flag of flags) {
    const i = flag.indexOf('=');
    const name = i < 0 ? flag : flag.slice(0, i);
    // `__proto__` would set the object's prototype instead of a variable.
    if (i < 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || name === '__proto__')
      throw new UsageError(`--var expects NAME=value with NAME made of letters, digits and _; got \`${flag}\``);
    vars[name] = flag.slice(i + 1);
  }
  return vars;
}
