// Pure parsing and checking of bg's input files: text and a file name in, values or problems out.
// Finding and reading the files is the CLI's job (src/cli/load.ts): config/ does no I/O.
import { InputError, type Problem } from '../errors.js';
import { hostProblems, inventorySchema, type Inventory } from './inventory-schema.js';
import { playbookSchema, type Playbook } from './playbook-schema.js';
import { parseYaml, problemAt, validateWith, type YamlSource } from './yaml-source.js';

export interface Loaded<T> {
  value: T;
  source: YamlSource;
}

/** Parse and validate one YAML text; all problems come back together, nothing throws. */
export function loadYamlFile<T>(file: string, text: string, schema: import('zod').ZodType<T>): { loaded?: Loaded<T>; problems: Problem[] } {
  const { source, problems } = parseYaml(file, text);
  if (problems.length) return { problems };
  const { value, problems: invalid } = validateWith(source, schema);
  if (invalid.length || value === undefined) return { problems: invalid };
  return { loaded: { value, source }, problems: [] };
}

/** Check an inventory's text, including cross-references (groups naming hosts); InputError naming `name` otherwise. */
export function parseInventory(name: string, text: string): Loaded<Inventory> {
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

/** Check a playbook's text; `shown` is the name problems carry (file:line:column). */
export function parsePlaybook(shown: string, text: string): Loaded<Playbook> {
  const { loaded, problems } = loadYamlFile(shown, text, playbookSchema);
  if (!loaded) throw new InputError(problems, `invalid playbook ${shown}`);
  return loaded;
}
