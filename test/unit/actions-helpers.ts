// Helpers for test/unit/actions-*.test.ts: plan a playbook given as YAML text against an inventory
// (the fixture one, or YAML text), and run a step's commands through a real sh on this machine.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { library } from '../../src/remote/library.js';
import { loadInventory } from '../../src/cli/load.js';
import { loadYamlFile } from '../../src/config/parse.js';
import { inventorySchema } from '../../src/config/inventory-schema.js';
import { playbookSchema } from '../../src/config/playbook-schema.js';
import { InputError, formatProblem } from '../../src/errors.js';
import { resolveHost } from '../../src/plan/host-model.js';
import { planRun } from '../../src/plan/planner.js';
import type { Plan, PlanStep } from '../../src/plan/types.js';

export const RUN = '20261121T120000Z-abcd';
const fixtureInventory = () => loadInventory(new URL('../fixtures/hosts.yaml', import.meta.url).pathname).value;

export interface PlanOptions {
  host?: string;
  vars?: Record<string, string>;
  /** Inventory as YAML text; default test/fixtures/hosts.yaml. */
  inventory?: string;
}

export function plan(playbookYaml: string, opts: PlanOptions = {}): Plan {
  const pb = loadYamlFile('pb.yaml', playbookYaml, playbookSchema);
  if (!pb.loaded) throw new Error(pb.problems.map((p) => formatProblem(p)).join('\n'));
  let inventory;
  if (opts.inventory) {
    const inv = loadYamlFile('hosts.yaml', opts.inventory, inventorySchema);
    if (!inv.loaded) throw new Error(inv.problems.map((p) => formatProblem(p)).join('\n'));
    inventory = inv.loaded.value;
  } else inventory = fixtureInventory();
  const name = opts.host ?? 'prod';
  return planRun({ playbook: pb.loaded.value, source: pb.loaded.source, host: resolveHost(name, inventory.hosts[name]!), vars: opts.vars ?? {}, runId: RUN });
}

/** The problems planning reports, as `pb.yaml:L:C: field: message`. */
export function problems(playbookYaml: string, opts: PlanOptions = {}): string[] {
  try {
    plan(playbookYaml, opts);
  } catch (e) {
    if (e instanceof InputError) return e.problems.map((p) => formatProblem(p));
    throw e;
  }
  throw new Error('expected problems');
}

/** A one-step playbook. */
export function oneStep(action: string, fields: string): string {
  return `name: t\nsteps:\n  - name: s\n    action: ${action}\n${fields
    .trim()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n')}\n`;
}

export interface ShResult {
  code: number;
  stdout: string;
  stderr: string;
}

// The remote library, as a host has it installed (src/remote/install.ts): every command sources it.
let libFile: string | undefined;
export function libraryFile(): string {
  if (!libFile) {
    libFile = join(mkdtempSync(join(tmpdir(), 'bg-lib-')), 'lib.sh');
    writeFileSync(libFile, library().text);
  }
  return libFile;
}

/** A command as a host runs it: through sh, with the remote library sourced first. */
export function sh(cmd: string, env: Record<string, string> = {}): ShResult {
  const r = spawnSync('sh', ['-c', `. '${libraryFile()}'; ${cmd}`], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...env } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Run capture, run and verify commands of a step as the executor would; the first failure stops. */
export function runStep(step: PlanStep): ShResult & { phase: string } {
  for (const [phase, cmds] of [['capture', step.capture], ['run', step.run], ['verify', step.verify]] as const)
    for (const c of cmds) {
      const r = sh(c.cmd);
      if (r.code !== 0) return { ...r, phase };
    }
  return { code: 0, stdout: '', stderr: '', phase: 'done' };
}

/** Run a step's undo commands; the result of the last one run (stdout of all of them). */
export function undoStep(step: PlanStep): ShResult {
  let out = '';
  let last: ShResult = { code: 0, stdout: '', stderr: '' };
  for (const c of step.undo) {
    last = sh(c.cmd);
    out += last.stdout;
    if (last.code !== 0) break;
  }
  return { ...last, stdout: out };
}
