// Characters that never need quoting in POSIX sh; anything else is single-quoted.
const SAFE = /^[A-Za-z0-9_\/.,:=@%+-]+$/;

/** Quote one value so that sh reads it back as exactly one literal word. */
export function shellQuote(value: string): string {
  if (SAFE.test(value)) return value;
  // Inside single quotes nothing is special except the quote itself: close, escape, reopen.
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * Quote a path on the host. `~/x` must stay expandable, so it becomes "$HOME"/'x'
 * (a quoted tilde would be taken literally). A relative path starting with `-` becomes `./-…`
 * (the same file), so no command ever reads a path as an option: not every tool takes `--`
 * (sqlite3 does not), and the path is copied into many commands through shell variables.
 */
export function quotePath(path: string): string {
  if (path === '~') return '"$HOME"';
  if (path.startsWith('~/')) return `"$HOME"/${shellQuote(path.slice(2))}`;
  return shellQuote(path.startsWith('-') ? `./${path}` : path);
}

/** Quote a string as an SQL literal ('it''s'). */
export function sqlLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** Join path segments the way the host will see them (no normalisation beyond slashes). */
export function joinPath(dir: string, name: string): string {
  if (name.startsWith('/') || name.startsWith('~/')) return name;
  return `${dir.replace(/\/+$/, '')}/${name}`;
}
