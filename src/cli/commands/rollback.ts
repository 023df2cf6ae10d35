import { color } from 'listr2';
import { BgError, ExitCode, LockedError, UsageError } from '../../errors.js';
import type { PlanStep } from '../../plan/types.js';
import { executeRollback } from '../../run/executor.js';
import { listRunIds, readRun } from '../../run/journal-reader.js';
import { runState } from '../../run/journal-state.js';
import { HostLock, readLock, removeLock } from '../../run/lock.js';
import { liveSessions } from '../../run/sessions.js';
import { holderGone } from '../../run/run-meta.js';
import type { Transport } from '../../transport/transport.js';
import { runMeta } from '../../run/run-meta.js';
import { withHosts, type HostArgs } from '../host-session.js';
import type { HostConfig } from '../../config/inventory-schema.js';
import { resolveVars } from '../../plan/vars.js';
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
}

/** `bg rollback`: undo a finished or interrupted run from the journal on its host. */
export async function rollbackCommand(args: RollbackArgs): Promise<number> {
  const out = (s: string) => process.stdout.write(s + '\n');
  return withHosts(args, async (hosts) => {
    if (hosts.length !== 1) throw new UsageError('bg rollback works on one host at a time: name a single host');
    const { name, config, transport } = hosts[0]!;
    const ids = await listRunIds(transport, config.journal);
    if (ids.length === 0) {
      out(`${name}: no runs recorded in ${config.journal}; nothing to roll back`);
      return ExitCode.ok;
    }
    const id = args.run ?? ids.at(-1)!;
    if (!ids.includes(id)) throw new UsageError(`no run ${id} on ${name}; recent runs: ${ids.slice(-5).join(', ')} (bg history --host ${name})`);
    const { doc, events } = await readRun(transport, config.journal, id);
    const state = runState(doc.plan, events);
    if (state.toUndo.length === 0) {
      out(`${name}: run ${id} (${doc.plan.playbook.name}, ${state.status}) has nothing left to undo`);
      return ExitCode.ok;
    }

    // A later run that changed the host built on this one: undoing underneath it breaks it.
    const blocking: string[] = [];
    for (const later of ids.slice(ids.indexOf(id) + 1)) {
      const r = await readRun(transport, config.journal, later);
      const s = runState(r.doc.plan, r.events);
      if (s.toUndo.length) blocking.push(`${later} (${r.doc.plan.playbook.name}, ${s.status})`);
    }
    if (blocking.length && !args.force)
      throw new BgError(`run ${id} on ${name} has later runs built on it: ${blocking.join(', ')}\nundo those first (bg rollback --host ${name} --run ID), or pass --force`, ExitCode.badInput);

    out(`${name}: undo run ${id} (${doc.plan.playbook.name}, ${state.status}, by ${doc.meta.user}@${doc.meta.machine}), newest step first:`);
    for (const step of state.toUndo) out(describeUndo(step, !!args.dryRun));

    const discards = await discardReport(state.toUndo, transport);
    for (const d of discards) out(color.yellow(`  ! undoing ${d.step.index}. ${d.step.name} discards:\n${d.text.replace(/^/gm, '      ')}`));
    if (args.dryRun) return ExitCode.ok;
    if (discards.length && !args.acceptDataLoss)
      throw new BgError(`rolling back run ${id} on ${name} would discard the data listed above; pass --accept-data-loss to go ahead`, ExitCode.badInput);

    const secrets = rollbackSecrets(doc.plan.secrets ?? {}, config);
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
      await acquireOrTakeOver(lock, transport, config.journal, id, args.lockWait ?? 0, interrupts.signal);
      try {
        await waitForSessions(transport, doc.plan.journalDir, name, id, args.lockWait ?? 0, interrupts.signal);
        undoing = true;
        const result = await executeRollback({ plan: doc.plan, transport: withSecrets(transport, secrets), steps: state.toUndo }, { renderer: chooseRenderer(args), emit: eventSink(args) });
        if (result.left.length) {
          process.stderr.write(color.red(`${name}: ROLLBACK INCOMPLETE — a person must look.\n${result.error?.message ?? ''}\nNot undone, newest first:\n${result.left.map((s) => `  ${s.index}. ${s.name}`).join('\n')}\n`));
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
 * is gone, is taken over (that is what `bg unlock` would allow) instead of exiting 3.
 */
async function acquireOrTakeOver(lock: HostLock, transport: Transport, journal: string, runId: string, waitSeconds: number, signal?: AbortSignal): Promise<void> {
  try {
    await lock.acquire(waitSeconds, signal);
  } catch (e) {
    if (!(e instanceof LockedError)) throw e;
    const held = await readLock(transport, journal);
    if (!held || held.runId !== runId || !holderGone(held)) throw e;
    await removeLock(transport, journal);
    await lock.acquire(0);
  }
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

/** The secrets the run's undo commands may need: from the environment again, or inline in the inventory. */
function rollbackSecrets(sources: Record<string, string | null>, config: HostConfig): Record<string, string> {
  const inline = resolveVars([config.vars], process.env).secrets;
  const out: Record<string, string> = {};
  for (const [name, env] of Object.entries(sources)) {
    const value = env ? process.env[env] : inline[name];
    if (value === undefined) throw new BgError(`the undo commands need the secret \`${name}\`: set ${env ?? `it in the inventory's vars`}`, ExitCode.badInput);
    out[name] = value;
  }
  return out;
}

function describeUndo(step: PlanStep, withCommands: boolean): string {
  const head = `  ${step.index}. ${step.name} [${step.action}${step.env ? `, ${step.env}` : ''}]`;
  if (step.undo.length === 0) return `${head}: nothing to undo (${step.undoNote ?? 'no undo'})`;
  if (!withCommands) return head;
  return [head, ...step.undo.map((c) => c.cmd.split('\n').map((l, i) => (i ? '        ' : '      $ ') + l).join('\n'))].join('\n');
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
