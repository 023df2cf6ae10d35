import { existsSync, readdirSync } from 'node:fs';
import { relative, resolve, sep } from 'node:path';
import { isMap, parseDocument } from 'yaml';
import { BUILTIN_PLAYBOOKS, findInventory, loadInventory, loadPlaybook, readInputFile, type Loaded } from '../../config/load.js';
import type { Inventory } from '../../config/inventory-schema.js';
import type { Playbook } from '../../config/playbook-schema.js';
import { InputError, formatProblem, type Problem } from '../../errors.js';
import { resolveHost } from '../../plan/host-model.js';
import { planRun } from '../../plan/planner.js';

export interface ValidateArgs {
  files?: string[];
  inventory?: string;
}

/** Check inventory and playbooks (and plan every playbook for every host); report every problem. */
export function validateCommand(args: ValidateArgs, write = (s: string) => process.stdout.write(s)): number {
  const problems: Problem[] = [];
  const collect = <T>(fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (e) {
      if (e instanceof InputError) problems.push(...e.problems);
      else throw e;
      return undefined;
    }
  };
  let inventory: Loaded<Inventory> | undefined;
  const playbooks: Array<Loaded<Playbook> & { builtin: boolean }> = [];
  const warnings = new Map<string, Problem>();
  const notes: string[] = [];
  const files = args.files?.length ? args.files : defaultFiles(args.inventory);
  for (const file of files) {
    if (!existsSync(file)) {
      problems.push({ file, message: 'no such file' });
      continue;
    }
    const kind = classify(file);
    if (kind === 'inventory') inventory = collect(() => loadInventory(file)) ?? inventory;
    else if (kind === 'playbook') {
      const pb = collect(() => loadPlaybook(file));
      if (pb) playbooks.push({ ...pb, builtin: resolve(file).startsWith(BUILTIN_PLAYBOOKS + sep) });
    } else problems.push({ file, line: 1, column: 1, message: 'neither an inventory (`hosts:`) nor a playbook (`steps:`)' });
  }
  inventory ??= collect(() => loadInventory(findInventory(args.inventory)));
  if (inventory) {
    for (const pb of playbooks)
      for (const [name, cfg] of Object.entries(inventory.value.hosts)) {
        // Required variables are checked at run time; give them a placeholder here.
        const vars = Object.fromEntries(Object.entries(pb.value.vars).filter(([, v]) => v === null).map(([k]) => [k, `<${k}>`]));
        // Variables read from the environment are checked at run time too: any value will do here.
        const environment = new Proxy({}, { get: (_t, k) => `<${String(k)}>` }) as Record<string, string>;
        const plan = () => planRun({ playbook: pb.value, source: pb.source, inventorySource: inventory.source, host: resolveHost(name, cfg), vars, runId: 'validate', environment, warn: (w) => warnings.set(formatProblem(w), w) });
        if (!pb.builtin) {
          collect(plan);
          continue;
        }
        // A built-in playbook is offered, not chosen: one that does not fit a host (phase2 without
        // shared_db) is noted, and `bg run` of it still reports every problem.
        try {
          plan();
        } catch (e) {
          if (!(e instanceof InputError)) throw e;
          notes.push(`note: built-in playbook ${pb.value.name} does not apply to host ${name}: ${e.problems[0]?.message ?? 'it cannot be planned'}`);
        }
      }
  }
  for (const w of warnings.values()) process.stderr.write(`bg: warning: ${formatProblem(w)}\n`);
  if (notes.length) write(notes.join('\n') + '\n');
  if (problems.length) {
    process.stderr.write(`bg: ${problems.length} problem${problems.length > 1 ? 's' : ''}:\n${problems.map((p) => '  ' + formatProblem(p)).join('\n')}\n`);
    return 2;
  }
  write(`✔ ${files.length} file${files.length === 1 ? '' : 's'} valid${inventory ? `; ${playbooks.length} playbook(s) planned for ${Object.keys(inventory.value.hosts).length} host(s)` : ''}\n`);
  return 0;
}

function classify(file: string): 'inventory' | 'playbook' | 'unknown' {
  let text: string;
  try {
    text = readInputFile(file, 'the file');
  } catch {
    // Not a readable file: the playbook loader reports it, naming the file.
    return 'playbook';
  }
  // Only the top-level keys: expanding the document (aliases and all) is the loader's job.
  const doc = parseDocument(text);
  if (doc.errors.length) return 'playbook'; // the loader reports the syntax error with its position
  if (!isMap(doc.contents)) return 'unknown';
  if (doc.has('hosts')) return 'inventory';
  if (doc.has('steps')) return 'playbook';
  return 'unknown';
}

function defaultFiles(explicitInventory?: string): string[] {
  const files: string[] = [];
  const inv = findInventory(explicitInventory);
  if (inv) files.push(inv);
  // A playbook in ./playbooks shadows the built-in of the same name, as in `bg run NAME`.
  const seen = new Set<string>();
  for (const dir of ['playbooks', BUILTIN_PLAYBOOKS])
    if (existsSync(dir))
      for (const f of readdirSync(dir).sort())
        if (/\.ya?ml$/.test(f) && !seen.has(f.replace(/\.ya?ml$/, ''))) {
          seen.add(f.replace(/\.ya?ml$/, ''));
          files.push(relative(process.cwd(), resolve(dir, f)) || f);
        }
  return files;
}
