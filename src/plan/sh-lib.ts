// Names of the remote library's shell functions (src/remote/*.sh). The library is installed on the
// host and sourced before every command (src/remote/install.ts), so a command only calls them.

/** A function of the remote library, by name (its code is in src/remote/*.sh). */
export interface ShFn {
  name: string;
}

export function shFn(name: string): ShFn {
  return { name };
}

/**
 * Nothing: kept so that a script may still say which library functions it calls. The library is
 * sourced in front of every command (src/remote/assemble.ts), never pasted into one.
 */
export function shLib(..._fns: readonly ShFn[]): string {
  return '';
}

/** A script: lines joined with newlines, empty entries dropped. */
export function script(...lines: Array<string | false | undefined | null>): string {
  return lines.filter((l): l is string => typeof l === 'string' && l !== '').join('\n');
}
