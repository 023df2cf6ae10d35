// Finding and reading the inventory and playbooks: the file side of src/config/parse.ts, which
// only parses and checks text.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_INVENTORY_YAML } from '../config/default-inventory.js';
import type { Inventory } from '../config/inventory-schema.js';
import { parseInventory, parsePlaybook, type Loaded } from '../config/parse.js';
import type { Playbook } from '../config/playbook-schema.js';
import { InputError, UsageError } from '../errors.js';
import { BUILTIN_PLAYBOOKS } from './package-info.js';

export type { Loaded } from '../config/parse.js';
export { BUILTIN_PLAYBOOKS } from './package-info.js';

/**
 * The text of an input file, or exit 2 naming it: a directory, an unreadable file or a dangling
 * link is bad input, not a bug in bg.
 */
export function readInputFile(file: string, what: string): string {
  let why: string | undefined;
  try {
    const st = statSync(file);
    // A FIFO or device would block the read or never end: only regular files are inputs.
    if (st.isDirectory()) why = 'is a directory, not a file';
    else if (!st.isFile()) why = 'is not a regular file';
    else return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' || code === 'EPERM' ? 'cannot be read (permission denied)' : `cannot be read (${code ?? (e as Error).message})`;
  }
  throw new InputError([{ file, message: `${what} ${why}` }], `cannot read ${what} ${file}`);
}

/** Names of the YAML files in a directory, or none when it is not a readable directory. */
export function yamlNames(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => /\.ya?ml$/.test(f));
  } catch {
    return [];
  }
}

/** Which inventory file to read: --inventory, then $BG_INVENTORY, then ./hosts.yaml, else the embedded default. */
export function findInventory(explicit?: string, env = process.env, cwd = process.cwd()): string | undefined {
  const chosen = explicit ?? env.BG_INVENTORY;
  if (chosen) {
    if (!existsSync(chosen)) throw new UsageError(`inventory ${chosen} does not exist`);
    return chosen;
  }
  for (const name of ['hosts.yaml', 'hosts.yml']) if (existsSync(join(cwd, name))) return name;
  return undefined;
}

/** Read and check the inventory (undefined: the embedded default). */
export function loadInventory(file: string | undefined): Loaded<Inventory> {
  if (!file) return parseInventory('(built-in default inventory)', DEFAULT_INVENTORY_YAML);
  return parseInventory(file, readInputFile(file, 'the inventory'));
}

/** Resolve a playbook argument: a path, ./playbooks/NAME.yaml, then the built-in NAME. */
export function findPlaybook(arg: string, cwd = process.cwd()): string {
  const candidates = /[\\/]|\.ya?ml$/.test(arg)
    ? [arg]
    : [join(cwd, 'playbooks', `${arg}.yaml`), join(cwd, 'playbooks', `${arg}.yml`), join(BUILTIN_PLAYBOOKS, `${arg}.yaml`)];
  const found = candidates.find((c) => existsSync(c));
  if (found) return found;
  const known = new Set<string>();
  for (const dir of [join(cwd, 'playbooks'), BUILTIN_PLAYBOOKS])
    yamlNames(dir).forEach((f) => known.add(f.replace(/\.ya?ml$/, '')));
  throw new UsageError(`no playbook \`${arg}\` (looked for ${candidates.join(', ')}); known: ${[...known].sort().join(', ') || 'none'}`);
}

/** Read and check a playbook; a built-in one is named by its place in the package. */
export function loadPlaybook(file: string): Loaded<Playbook> {
  const shown = file.startsWith(BUILTIN_PLAYBOOKS) ? `playbooks/${file.slice(BUILTIN_PLAYBOOKS.length + 1)} (built-in)` : file;
  return parsePlaybook(shown, readInputFile(file, 'the playbook'));
}
