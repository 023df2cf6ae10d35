import { color } from 'listr2';
import { BgError, ExitCode, LockedError, UsageError } from '../../errors.js';
import type { PlanStep } from '../../plan/types.js';
import { executeRollback } from '../../run/executor.js';
import { listRuns, readRun, readRuns, type RunRef } from '../../run/journal-reader.js';
import { missingUndoBackups } from '../../run/undo-needs.js';
import { runState } from '../../run/journal-state.js';
import { HostLock, readLock, removeLock } from '../../run/lock.js';
import { liveSessions } from '../../run/sessions.js';
import { holderGone } from '../../run/run-meta.js';
import type { Transport } from '../../transport/transport.js';
import { runMeta } from '../../run/run-meta.js';
import { withHosts, type HostArgs } from '../host-session.js';
import type { HostConfig } from '../../config/inventory-schema.js';
import type { Plan } from '../../plan/types.js';
import { resolveRollbackSecrets } from '../rollback-secrets.js';
import { multiLine, oneLine } from '../sanitize.js';
import { withSecrets } from '../../transport/secrets.js';
import { chooseRenderer, eventSink } from '../output.js';
import { trapInterrupts } from '../signals.js';

export interface RollbackArgs extends HostArgs {
  run?: string;
  dryRun?: boolean;
  force?: boolean;
  acceptDataLoss?: boolean;
  json?: boolean;
  ci?: boolean;
  lockWait?: number;
  /** --var NAME=VALUE: a secret the run was given with --var. */
  var?: string[];
}

/** `bg rollback`: undo a finished or interrupted run from the journal on its host. */
export async function rollbackCommand(args: RollbackArgs): Promise<number> {
  // --json: stdout holds only the JSON events; the words for people go to stderr.
  const out = (s: string) => (args.json ? process.stderr : process.stdout).write(s + '\n');
  return withHosts(args, async (hosts) => {
    if (hosts.length !== 1) throw new UsageError('bg rollback works on one host at a time: name a single host');
    const { name, config, transport } = hosts[0]!;
    const runs = await listRuns(transport, config.journal);
    // Runs without run.json stopped before their first step: they changed nothing and are never a target.
    const id = args.run ?? runs.filter((r) => r.hasJournal).at(-1)?.id;
    if (!id) {
      out(`${name}: no runs recorded in ${config.journal}; nothing to roll back`);
      return ExitCode.ok;
    }
    if (!runs.some((r) => r.id === id)) throw new UsageError(`no run ${id} on ${name}; recent runs: ${runs.slice(-5).map((r) => r.id).join(', ')} (bg history --host ${name})`);
    const read = await readRun(transport, config.journal, id);
    if (read.state === 'no-journal') {
      out(`${name}: run ${id} has no journal (no run.json): it stopped before its first step and changed nothing; nothing to undo`);
      return ExitCode.ok;
    }
    if (read.state === 'corrupt') throw damagedJournal(name, id, read.problem);
    const { doc, events } = read;
    const state = runState(doc.plan, events);
    if (state.toUndo.length === 0) {
      out(oneLine(`${name}: run ${id} (${doc.plan.playbook.name}, ${state.status}) has nothing left to undo`));
      return ExitCode.ok;
    }

    const blocking = await laterRunsBuiltOn(transport, config.journal, runs, id);
    if (blocking.length && !args.force)
      throw new BgError(`run ${id} on ${name} has later runs built on it: ${blocking.join(', ')}\nundo those first (bg rollback --host ${name} --run ID), or pass --force`, ExitCode.badInput);

    out(oneLine(`${name}: undo run ${id} (${doc.plan.playbook.name}, ${state.status}, by ${doc.meta.user}@${doc.meta.machine}), newest step first:`));
    for (const step of state.toUndo) out(describeUndo(step, !!args.dryRun));

    const discards = await discardReport(state.toUndo, transport);
    for (const d of discards) out(color.yellow(`  ! undoing ${d.step.index}. ${oneLine(d.step.name)} discards:\n${multiLine(d.text).replace(/^/gm, '      ')}`));
    if (args.dryRun) return ExitCode.ok;
    if (discards.length && !args.acceptDataLoss)
      throw new BgError(`rolling back run ${id} on ${name} would discard the data listed above; pass --accept-data-loss to go ahead`, ExitCode.badInput);

    const secrets = rollbackSecrets(doc.plan, name, config, args.var);
    const lock = new HostLock(transport, config.journal, runMeta(id, doc.plan.playbook.name, `bg rollback --run ${id}`));
    // SIGINT/SIGTERM: while waiting, stop (exit 3, nothing undone); once undoing, finish the undo
    // (an undo stopped halfway is worse than either state); a second signal quits at once (exit 4).
    let undoing = false;
    const interrupts = trapInterrupts({
      first: () => (undoing ? 'finishing the rollback (an undo is never stopped halfway), then releasing the lock' : 'stopping; nothing was undone'),
      second: () =>
        undoing
          ? { code: ExitCode.rollbackIncomplete, message: `The rollback of run ${id} on ${name} did not complete: a person must look. Finish it with: bg rollback --host ${name} --run ${id}  (if its lock is left: bg unlock --host ${name} first)` }
          : { code: ExitCode.locked, message: `Nothing was undone. If a lock of this rollback is left: bg unlock --host ${name}` },
    });
    try {
      await acquireOrTakeOver(lock, transport, config.journal, id, doc.plan.journalDir, args.lockWait ?? 0, interrupts.signal);
      try {
        await waitForSessions(transport, doc.plan.journalDir, name, id, args.lockWait ?? 0, interrupts.signal);
        await checkUnderLock(transport, config.journal, name, id, state.toUndo, !!args.force);
        undoing = true;
        const result = await executeRollback({ plan: doc.plan, transport: withSecrets(transport, secrets), steps: state.toUndo }, { renderer: chooseRenderer(args), emit: eventSink(args) });
        const notUndone = [...result.left, ...result.notUndone.filter((s) => !result.left.includes(s))].sort((a, b) => b.index - a.index);
        if (notUndone.length) {
          const why = (s: PlanStep) => (result.left.includes(s) ? '' : ` (${oneLine(s.undoNote ?? 'no undo')})`);
          process.stderr.write(color.red(`${name}: ROLLBACK INCOMPLETE — a person must look.\n${multiLine(result.error?.message ?? `${result.notUndone.length} step(s) that changed ${name} cannot be undone by bg`)}\nNot undone, newest first:\n${notUndone.map((s) => `  ${s.index}. ${oneLine(s.name)}${why(s)}`).join('\n')}\n`));
          return ExitCode.rollbackIncomplete;
        }
        out(color.green(`↩ ${name}: run ${id} undone (${state.toUndo.length} step${state.toUndo.length > 1 ? 's' : ''})`));
        return ExitCode.ok;
      } finally {
        const left = await lock.release();
        if (left) process.stderr.write(`bg: the lock on ${name} is left (${left}): bg unlock --host ${name}\n`);
      }
    } finally {
      interrupts.dispose();
    }
  });
}

/**
 * Take the host lock; a lock left by the very run being undone, whose bg process on this machine
 * is gone, is taken over (that is what `bg unlock` would allow) instead of exiting 3. Its commands
 * are checked first: while one still runs, the takeover is refused and the lock stays where it is,
 * so no new run can start beside them.
 */
async function acquireOrTakeOver(lock: HostLock, transport: Transport, journal: string, runId: string, runDir: string, waitSeconds: number, signal?: AbortSignal): Promise<void> {
  try {
    await lock.acquire(0, signal);
  } catch (e) {
    if (!(e instanceof LockedError)) throw e;
    const held = await readLock(transport, journal);
    // Another run's lock (or one whose holder may be alive): wait for it like any run would.
    if (!held || held.runId !== runId || !holderGone(held)) return lock.acquire(waitSeconds, signal);
    await waitForSessions(transport, runDir, transport.host, runId, waitSeconds, signal);
    // Only if it is still that run's lock: another bg may have taken it over meanwhile.
    if (!(await removeLock(transport, journal, runId))) throw e;
    await lock.acquire(0, signal);
  }
}

/**
 * Later runs (in the host's order) that still have changes on the host: undoing underneath them
 * would break them. Runs whose place in the order is unknown, or whose journal is damaged, count
 * too: bg cannot tell that they did not build on this one.
 */
async function laterRunsBuiltOn(transport: Transport, journal: string, runs: RunRef[], id: string): Promise<string[]> {
  const at = runs.findIndex((r) => r.id === id);
  const later = runs.filter((r, i) => r.id !== id && r.hasJournal && (i > at || r.problem));
  const blocking: string[] = [];
  for (const r of await readRuns(transport, journal, later.map((l) => l.id))) {
    const ref = later.find((l) => l.id === r.id)!;
    if (r.state === 'corrupt') blocking.push(`${r.id} (journal damaged: ${r.problem})`);
    else if (r.state === 'ok') {
      const s = runState(r.doc.plan, r.events);
      if (s.toUndo.length) blocking.push(`${r.id} (${r.doc.plan.playbook.name}, ${s.status}${ref.problem ? `; its place in the order is unknown: ${ref.problem}` : ''})`);
    }
  }
  return blocking;
}

/**
 * What was decided before the lock was taken still holds under it: no run started meanwhile on
 * top of this one (bg rollback --lock-wait may have waited for it), the same steps are left to
 * undo, and every backup they restore is there. Refusing here changes nothing on the host.
 */
async function checkUnderLock(transport: Transport, journal: string, host: string, id: string, toUndo: PlanStep[], force: boolean): Promise<void> {
  const runs = await listRuns(transport, journal);
  const read = await readRun(transport, journal, id);
  if (read.state === 'corrupt') throw damagedJournal(host, id, read.problem);
  const now = read.state === 'ok' ? runState(read.doc.plan, read.events).toUndo : [];
  if (now.map((s) => s.index).join() !== toUndo.map((s) => s.index).join())
    throw new BgError(`the journal of run ${id} on ${host} changed while bg waited for the lock (another bg rollback?): nothing was undone; run bg rollback again to see what is left`, ExitCode.locked);
  const blocking = await laterRunsBuiltOn(transport, journal, runs, id);
  if (blocking.length && !force)
    throw new BgError(`run ${id} on ${host} has later runs built on it: ${blocking.join(', ')}\nundo those first (bg rollback --host ${host} --run ID), or pass --force`, ExitCode.badInput);
  const missing = await missingUndoBackups(transport, read.state === 'ok' ? read.doc.plan.journalDir : '', toUndo);
  if (missing.length)
    throw new BgError(
      `cannot roll back run ${id} on ${host}: backups its undo restores are missing:\n${missing.map((m) => `  ${m.step.index}. ${m.step.name}: ${m.path}`).join('\n')}\n` +
        `nothing was undone; the host is as the run left it. Put the backup back in place, or undo those steps by hand.`,
      ExitCode.rollbackIncomplete,
    );
}

/** A journal bg cannot trust: nothing is undone, and the message says what a person can do. */
function damagedJournal(host: string, id: string, problem: string): BgError {
  return new BgError(
    `cannot roll back run ${id} on ${host}: its journal is damaged: ${problem}\n` +
      `bg cannot tell what that run changed, so it undoes nothing. The run's steps and their undo commands are in run.json, what ran is in log (bg history shows the run). ` +
      `Repair the file and run bg rollback again, or undo the run's steps by hand.`,
    ExitCode.badInput,
  );
}

/** Refuse (exit 3) while a command of the run still runs on the host: undoing under it races it. */
async function waitForSessions(transport: Transport, runDir: string, host: string, runId: string, waitSeconds: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + waitSeconds * 1000;
  for (;;) {
    if (signal?.aborted) throw new BgError(`interrupted while waiting for run ${runId}'s commands on ${host} to end: nothing was undone`, ExitCode.locked);
    const live = await liveSessions(transport, runDir);
    if (live.length === 0) return;
    if (Date.now() >= deadline)
      throw new BgError(`run ${runId} still has commands running on ${host} (their connection died, they did not):\n  ${live.join('\n  ')}\nwait for them to end (--lock-wait SECONDS), or stop them, then run bg rollback again`, ExitCode.locked);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/**
 * The secrets the run's undo commands need: the journal on the host only names them; each value
 * comes from the operator's inventory, playbook or --var (see rollback-secrets.ts).
 */
function rollbackSecrets(plan: Plan, host: string, config: HostConfig, vars: string[] | undefined): Record<string, string> {
  return resolveRollbackSecrets({ recorded: plan.secrets, playbook: plan.playbook, host, config, cliVars: vars });
}

function describeUndo(step: PlanStep, withCommands: boolean): string {
  // The journal is the host's: its names and commands are shown, never obeyed by the terminal.
  const head = oneLine(`  ${step.index}. ${step.name} [${step.action}${step.env ? `, ${step.env}` : ''}]`);
  if (step.undo.length === 0) return `${head}: nothing to undo (${oneLine(step.undoNote ?? 'no undo')})`;
  if (!withCommands) return head;
  return [head, ...step.undo.map((c) => multiLine(c.cmd).split('\n').map((l, i) => (i ? '        ' : '      $ ') + l).join('\n'))].join('\n');
}

/** Run each step's read-only discard check; what they print is what the rollback would throw away. */
async function discardReport(steps: PlanStep[], transport: Transport): Promise<Array<{ step: PlanStep; text: string }>> {
  const found: Array<{ step: PlanStep; text: string }> = [];
  for (const step of steps)
    for (const check of step.discardCheck ?? []) {
      const r = await transport.exec(check.cmd);
      if (r.exitCode !== 0) throw new BgError(`cannot tell what undoing "${step.name}" would discard on ${transport.host}: ${r.stderr.trim() || `exit ${r.exitCode}`}`, ExitCode.stepFailed);
      if (r.stdout.trim()) found.push({ step, text: r.stdout.trim() });
    }
  return found;
}
