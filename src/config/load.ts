import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError, UsageError, type Problem } from '../errors.js';
import { DEFAULT_INVENTORY_YAML } from './default-inventory.js';
import { hostProblems, inventorySchema, type Inventory } from './inventory-schema.js';
import { playbookSchema, type Playbook } from './playbook-schema.js';
import { parseYaml, problemAt, validateWith, type YamlSource } from './yaml-source.js';

export interface Loaded<T> {
  value: T;
  source: YamlSource;
}

/** The package's own playbooks/ folder (built-in playbooks). */
export const BUILTIN_PLAYBOOKS = resolve(dirname(fileURLToPath(import.meta.url)), '../../playbooks');

/** Parse and validate one YAML file; all problems come back together, nothing throws. */
export function loadYamlFile<T>(file: string, text: string, schema: import('zod').ZodType<T>): { loaded?: Loaded<T>; problems: Problem[] } {
  const { source, problems } = parseYaml(file, text);
  if (problems.length) return { problems };
  const { value, problems: invalid } = validateWith(source, schema);
  if (invalid.length || value === undefined) return { problems: invalid };
  return { loaded: { value, source }, problems: [] };
}

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
function yamlNames(dir: string): string[] {
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

/** Load and check the inventory, including cross-references (groups naming hosts). */
export function loadInventory(file: string | undefined): Loaded<Inventory> {
  const name = file ?? '(built-in default inventory)';
  const text = file ? readInputFile(file, 'the inventory') : DEFAULT_INVENTORY_YAML;
  const { loaded, problems } = loadYamlFile(name, text, inventorySchema);
  if (!loaded) throw new InputError(problems, `invalid inventory ${name}`);
  const refs: Problem[] = [];
  for (const [host, cfg] of Object.entries(loaded.value.hosts))
    for (const p of hostProblems(cfg)) refs.push(problemAt(loaded.source, ['hosts', host, ...p.field], p.message));
  for (const [group, members] of Object.entries(loaded.value.groups)) {
    if (Object.hasOwn(loaded.value.hosts, group)) refs.push(problemAt(loaded.source, ['groups', group], `group \`${group}\` has the name of a host`));
    members.forEach((m, i) => {
      if (!Object.hasOwn(loaded.value.hosts, m)) refs.push(problemAt(loaded.source, ['groups', group, i], `unknown host \`${m}\``));
    });
  }
  if (refs.length) throw new InputError(refs, `invalid inventory ${name}`);
  return loaded;
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

export function loadPlaybook(file: string): Loaded<Playbook> {
  const shown = file.startsWith(BUILTIN_PLAYBOOKS) ? `playbooks/${file.slice(BUILTIN_PLAYBOOKS.length + 1)} (built-in)` : file;
  const { loaded, problems } = loadYamlFile(shown, readInputFile(file, 'the playbook'), playbookSchema);
  if (!loaded) throw new InputError(problems, `invalid playbook ${shown}`);
  return loaded;
}
