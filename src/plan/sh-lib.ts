// A tiny library of POSIX sh functions that actions prepend to their scripts. Each script
// carries only the functions it calls (and what those call), so dry-run output stays readable.

/** One shell function (or variable) definition and the definitions it relies on. */
export interface ShFn {
  name: string;
  /** The definition, one line or several, valid POSIX sh. */
  code: string;
  deps?: readonly ShFn[];
}

export function shFn(name: string, code: string, deps: readonly ShFn[] = []): ShFn {
  return { name, code, deps };
}

/** The definitions of `fns` and everything they depend on, dependencies first, each once. */
export function shLib(...fns: readonly ShFn[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  const visit = (f: ShFn) => {
    if (seen.has(f.name)) return;
    seen.add(f.name);
    for (const d of f.deps ?? []) visit(d);
    out.push(f.code);
  };
  fns.forEach(visit);
  return out.join('\n');
}

/** A script: lines joined with newlines, empty entries dropped. */
export function script(...lines: Array<string | false | undefined | null>): string {
  return lines.filter((l): l is string => typeof l === 'string' && l !== '').join('\n');
}
