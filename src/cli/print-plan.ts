import { color } from 'listr2';
import type { Command, Plan, Probe } from '../plan/types.js';
import { multiLine, oneLine } from './sanitize.js';
import { ACTIONS } from '../plan/actions/index.js';
import { functionsUsed, library } from '../remote/library.js';
import { libraryPath } from '../remote/assemble.js';

export interface FormatOptions {
  /** Also print the code of every library function the plan calls, once (`--show-library`, `--verbose`). */
  showLibrary?: boolean;
}

/**
 * The human form of a plan: every exact command, grouped by step. This is what dry-run shows.
 * Every value is escaped for a terminal (sanitize.ts): names and values on one line, commands
 * over several, control characters visible; `--json` gives the exact bytes.
 */
export function formatPlan(plan: Plan, opts: FormatOptions = {}): string {
  const out: string[] = [];
  out.push(color.bold(oneLine(`Plan: ${plan.playbook.name} on ${plan.host.name} (${plan.host.target})`)));
  if (plan.playbook.description) out.push(color.dim(multiLine(plan.playbook.description)));
  out.push(color.dim(oneLine(`run ${plan.runId} · playbook ${plan.playbook.file} · journal ${plan.journalDir}`)));
  const vars = Object.entries(plan.vars);
  if (vars.length) out.push(color.dim(oneLine(`vars: ${vars.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}`)));
  for (const u of plan.uploads ?? []) out.push(oneLine(`upload: ${u.local} (this machine) -> ${u.remote} on ${plan.host.name}, before the pre-flight (bg run)`));
  if (plan.preflight.length || plan.gates.length) {
    out.push('');
    out.push(`${color.bold('Pre-flight')} ${color.dim('[read-only, before anything changes; bg plan --check runs them]')}`);
    section(out, 'check', plan.preflight);
    section(out, 'lint', plan.gates);
  }
  for (const step of plan.steps) {
    out.push('');
    const tags = [step.action, step.env, step.mutates ? 'changes state' : 'read-only'].filter(Boolean).join(', ');
    out.push(`${color.bold(oneLine(`${step.index}. ${step.name}`))} ${color.dim(oneLine(`[${tags}]`))}`);
    // What the step does, in words: the action's summary (its commands are calls of the library below).
    const summary = Object.hasOwn(ACTIONS, step.action) ? ACTIONS[step.action]!.summary : undefined;
    if (summary) out.push(`   ${color.dim(oneLine(summary))}`);
    section(out, 'capture', step.capture);
    section(out, 'run', step.run);
    section(out, 'verify', step.verify);
    if (step.download) section(out, 'copy', [{ cmd: step.download.cmd, label: `${step.download.label}, after the verify` }]);
    if (step.undo.length) section(out, 'undo', step.undo);
    else out.push(`   ${color.cyan('undo')}: ${color.dim(oneLine(step.undoNote ?? 'none'))}`);
  }
  if (plan.endedEarly !== undefined) out.push('', color.yellow(oneLine(`The plan ends here: ${plan.endedEarly}`)));
  out.push('', ...librarySection(plan, opts));
  return out.join('\n');
}

/**
 * The remote library the commands call (src/remote/*.sh, sourced on the host before every
 * command): one line naming it and how many of its functions the plan uses; with showLibrary,
 * the code of each of those functions, once.
 */
function librarySection(plan: Plan, opts: FormatOptions): string[] {
  const lib = library();
  const commands = [...plan.preflight, ...plan.gates, ...plan.steps.flatMap((s) => [...s.capture, ...s.run, ...s.verify, ...s.undo, ...(s.discardCheck ?? []), ...(s.download ? [s.download] : [])])].map((c) => c.cmd);
  const used = functionsUsed(commands, lib);
  const where = libraryPath(plan.journalDir.replace(/\/runs\/[^/]+$/, ''), lib.hash);
  const head = `${color.bold('Library')} ${color.dim(oneLine(`sha256:${lib.hash.slice(0, 16)}… on the host as ${where}; ${used.length} functions used${opts.showLibrary ? '' : ' (bg plan --show-library prints them)'}`))}`;
  if (!opts.showLibrary) return [head, ''];
  const out = [head];
  for (const f of used) {
    out.push('', color.dim(oneLine(`# ${f.file}: ${f.comment}`)));
    for (const line of multiLine(f.code).split('\n')) if (!line.startsWith('# ')) out.push(`  ${line}`);
  }
  out.push('');
  return out;
}

function section(out: string[], title: string, commands: Array<Command | Probe>): void {
  if (commands.length === 0) return;
  out.push(`   ${color.cyan(title)}:`);
  for (const c of commands) {
    const notes = [c.label, 'retry' in c && c.retry ? `up to ${c.retry.attempts} attempts, ${c.retry.intervalMs}ms apart ×${c.retry.factor}` : undefined, c.timeoutMs ? `timeout ${c.timeoutMs}ms` : undefined].filter(Boolean);
    if (notes.length) out.push(`     ${color.dim(oneLine('# ' + notes.join('; ')))}`);
    const [first, ...rest] = multiLine(c.cmd).split('\n');
    out.push(`     $ ${first}`);
    for (const line of rest) out.push(`       ${line}`);
  }
}
