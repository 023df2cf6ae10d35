// The remote library: every shell function bg runs on a host, kept as POSIX sh files beside this
// module (src/remote/*.sh, shipped as they are: package.json "files"). bg installs the library
// on a host once per content hash and sources it in front of every command (see install.ts).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** One function of the library: its file, its one-line comment, its whole definition. */
export interface LibFunction {
  name: string;
  file: string;
  comment: string;
  code: string;
}

export interface Library {
  /** Every file, in name order, joined: what is installed on a host. */
  text: string;
  /** sha256 of `text`, hex: the installed file's name and run.json's `library.hash`. */
  hash: string;
  functions: Map<string, LibFunction>;
}

// From dist/remote/library.js and from src/remote/library.ts alike: the .sh files stay in src/remote.
const DIR = fileURLToPath(new URL('../../src/remote/', import.meta.url));

let cached: Library | undefined;

/** The library this bg carries (read once). */
export function library(dir = DIR): Library {
  if (cached && dir === DIR) return cached;
  const files = readdirSync(dir).filter((f) => f.endsWith('.sh')).sort();
  const parts = files.map((f) => `# ---- ${f}\n${readFileSync(dir + f, 'utf8').trimEnd()}\n`);
  const text = parts.join('\n');
  const functions = new Map<string, LibFunction>();
  files.forEach((f) => parseFunctions(f, readFileSync(dir + f, 'utf8'), functions));
  const lib = { text, hash: createHash('sha256').update(text).digest('hex'), functions };
  if (dir === DIR) cached = lib;
  return lib;
}

/**
 * The definitions of a file: blocks separated by blank lines, each with its comment lines first.
 * A block defines the function named on its `name() {` line (a variable it needs may come before).
 */
function parseFunctions(file: string, text: string, into: Map<string, LibFunction>): void {
  for (const block of text.split(/\n\s*\n/)) {
    // A function, or a variable functions use (an awk or JavaScript program, an SQL statement).
    const m = /^(bg_[a-z0-9_]+)\(\) \{/m.exec(block) ?? /^(BG_[A-Z0-9_]+)=/m.exec(block);
    if (!m) continue;
    const lines = block.split('\n');
    const comment = lines.find((l) => l.startsWith('# ') && !l.startsWith('# shellcheck'))?.slice(2) ?? '';
    const code = lines.filter((l) => !l.startsWith('# shellcheck')).join('\n');
    into.set(m[1]!, { name: m[1]!, file, comment, code });
  }
}

/** The library functions a command calls, with those they call in turn, each once, in call order. */
export function functionsUsed(commands: string[], lib: Library = library()): LibFunction[] {
  const seen = new Set<string>();
  const out: LibFunction[] = [];
  const visit = (text: string) => {
    for (const m of text.matchAll(/\b(?:bg_[a-z0-9_]+|BG_[A-Z0-9_]+)\b/g)) {
      const f = lib.functions.get(m[0]);
      if (!f || seen.has(f.name)) continue;
      seen.add(f.name);
      out.push(f);
      visit(f.name.startsWith('bg_') ? f.code.slice(f.code.indexOf(`${f.name}() {`) + f.name.length) : '');
    }
  };
  commands.forEach(visit);
  return out;
}
