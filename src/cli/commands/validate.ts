import { existsSync, readdirSync } from 'node:fs';
import { relative, resolve, sep } from 'node:path';
import { isMap, parseDocument } from 'yaml';
import { BUILTIN_PLAYBOOKS, findInventory, loadInventory, loadPlaybook, readInputFile, type Loaded } from '../load.js';
import type { Inventory } from '../../config/inventory-schema.js';
import type { Playbook } from '../../config/playbook-schema.js';
import { ExitCode, InputError, formatProblem, type Problem } from '../../errors.js';
import { annotate, type Annotation } from '../github.js';
import { githubAnnotations, type OutputFlags } from '../output.js';
import { multiLine } from '../sanitize.js';
import { resolveHost } from '../../plan/host-model.js';
import { needsProxy } from '../../plan/actions/proxy-common.js';
import { needsRelease } from '../../plan/actions/release-common.js';
import { planRun } from '../../plan/planner.js';

export interface ValidateArgs extends OutputFlags {
  files?: string[];
  inventory?: string;
}

/** A built-in playbook that does not fit a host: said, not an error. */
interface Note {
  file: string;
  playbook: string;
  host: string;
  message: string;
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
  const notes: Note[] = [];
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
        const plan = () => planRun({ playbook: pb.value, source: pb.source, inventorySource: inventory.source, host: resolveHost(name, cfg, cfg.proxy?.colors[0]), vars, runId: 'validate', environment, warn: (w) => warnings.set(formatProblem(w), w) });
        // Playbooks that switch or configure the proxy are for hosts with a proxy (bg run of one
        // elsewhere says so, exit 2): not a problem, nor a note, for every other host.
        if (needsProxy(pb.value) && !cfg.proxy) continue;
        if (needsRelease(pb.value) && !cfg.release) continue;
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
          notes.push({ file: pb.source.file, playbook: pb.value.name, host: name, message: `built-in playbook ${pb.value.name} does not apply to host ${name}: ${e.problems[0]?.message ?? 'it cannot be planned'}` });
        }
      }
  }
  // An invalid inventory named among the files is loaded again as the inventory: report it once.
  const unique = [...new Map(problems.map((p) => [formatProblem(p), p])).values()];
  problems.splice(0, problems.length, ...unique);
  const code = problems.length ? ExitCode.badInput : ExitCode.ok;
  if (args.json) {
    const hosts = inventory ? Object.keys(inventory.value.hosts).length : 0;
    write(JSON.stringify({ valid: code === ExitCode.ok, files, playbooks: playbooks.map((p) => p.value.name), hosts, problems, warnings: [...warnings.values()], notes }, null, 2) + '\n');
    return code;
  }
  // File names, fields and messages quote the user's files: shown, never obeyed by the terminal.
  for (const w of warnings.values()) process.stderr.write(`bg: warning: ${multiLine(formatProblem(w))}\n`);
  if (notes.length) write(multiLine(notes.map((n) => `note: ${n.message}`).join('\n')) + '\n');
  if (githubAnnotations(args)) annotate(validateAnnotations(problems, [...warnings.values()], notes));
  if (problems.length) {
    process.stderr.write(`bg: ${problems.length} problem${problems.length > 1 ? 's' : ''}:\n${multiLine(problems.map((p) => '  ' + formatProblem(p)).join('\n'))}\n`);
    return code;
  }
  write(`✔ ${files.length} file${files.length === 1 ? '' : 's'} valid${inventory ? `; ${playbooks.length} playbook(s) planned for ${Object.keys(inventory.value.hosts).length} host(s)` : ''}\n`);
  return code;
}

/** Problems as errors, warnings and notes as warnings, each on its file and line (GitHub Actions). */
export function validateAnnotations(problems: Problem[], warnings: Problem[], notes: Note[]): Annotation[] {
  const at = (p: Problem) => ({ file: p.file, line: p.line, column: p.column, message: p.field ? `${p.field}: ${p.message}` : p.message });
  return [
    ...problems.map((p): Annotation => ({ level: 'error', title: 'bg validate', ...at(p) })),
    ...warnings.map((p): Annotation => ({ level: 'warning', title: 'bg validate: warning', ...at(p) })),
    ...notes.map((n): Annotation => ({ level: 'warning', title: 'bg validate: note', file: n.file, message: n.message })),
  ];
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
