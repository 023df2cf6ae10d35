// Building commands from calls of the remote library's functions (src/remote/*.sh). The library is
// installed on the host and sourced before every command (src/remote/install.ts), so a command
// only calls them.

/**
 * A call of a library function: `NAME WORD...`. Every word is already a quoted shell word
 * (quotePath for host paths, shellQuote for other values): a value is data, also when it starts
 * with `-` or holds a newline or `$(…)`. Undefined words are left out (optional trailing arguments).
 */
export function call(name: string, ...words: Array<string | undefined>): string {
  return [name, ...words.filter((w): w is string => w !== undefined)].join(' ');
}

/** A script: lines joined with newlines, empty entries dropped. */
export function script(...lines: Array<string | false | undefined | null>): string {
  return lines.filter((l): l is string => typeof l === 'string' && l !== '').join('\n');
}
