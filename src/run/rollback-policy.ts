// What `bg rollback` decides, and in which order: which run, whether later runs are built on it,
// what undoing it would discard, taking the lock (or taking over the run's own), waiting for its
// commands still running on the host, checking again under the lock, then undoing. The CLI
// command (src/cli/commands/rollback.ts) parses arguments, calls these and prints.
import { BgError, ExitCode, LockedError, UsageError } from '../errors.js';
import type { PlanStep } from '../plan/types.js';
import type { Transport } from '../transport/transport.js';
import type { EventSink } from './events.js';
import { executeRollback } from './executor.js';
import type { JournaledRun } from './journal.js';
import { RUN_FILES, runDir } from './journal-layout.js';
import { listRuns, readRun, readRuns, type RunRef } from './journal-reader.js';
import { runState, type RunState } from './journal-state.js';
import { HostLock, readLock, removeLock } from './lock.js';
import { JOURNAL_STATE } from './outcomes.js';
import { holderGone, runMeta } from './run-meta.js';
import { liveSessions } from './sessions.js';
import { missingUndoBackups } from './undo-needs.js';
import { withLocks } from './with-lock.js';

/** The run `bg rollback` would undo, or why there is nothing to undo. */
export type RollbackTarget =
  | { kind: 'no-runs' }
  /** No run.json: it stopped before its first step and changed nothing. */
  | { kind: typeof JOURNAL_STATE.noJournal; id: string }
  | { kind: 'nothing-left'; id: string; doc: JournaledRun; state: RunState }
  | { kind: 'undo'; id: string; doc: JournaledRun; state: RunState };

/**
 * The run to undo: `requested`, else the newest run with a journal (runs without run.json stopped
 * before their first step and are never a target). Refuses (exit 2) an unknown id, a damaged
 * journal, and a run that later runs with changes are built on, unless `force`.
 */
export async function chooseRollbackTarget(transport: Transport, journal: string, host: string, requested: string | undefined, force: boolean): Promise<RollbackTarget> {
  const runs = await listRuns(transport, journal);
  const id = requested ?? runs.filter((r) => r.hasJournal).at(-1)?.id;
  if (!id) return { kind: 'no-runs' };
  if (!runs.some((r) => r.id === id)) throw new UsageError(`no run ${id} on ${host}; recent runs: ${runs.slice(-5).map((r) => r.id).join(', ')} (bg history --host ${host})`);
  const read = await readRun(transport, journal, id);
  if (read.state === JOURNAL_STATE.noJournal) return { kind: JOURNAL_STATE.noJournal, id };
  if (read.state === JOURNAL_STATE.corrupt) throw damagedJournal(host, id, read.problem);
  // The rollback writes to the run directory it read, never to one that run.json names: a journal
  // moved with the inventory's `journal:`, or a hostile run.json, must not send its lines elsewhere.
  read.doc.plan.journalDir = runDir(journal, id);
  const state = runState(read.doc.plan, read.events);
  if (state.toUndo.length === 0) return { kind: 'nothing-left', id, doc: read.doc, state };
  await refuseLaterRuns(transport, journal, host, runs, id, force);
  return { kind: 'undo', id, doc: read.doc, state };
}

/** Run each step's read-only discard check; what they print is what the rollback would throw away. */
export async function discardReport(steps: PlanStep[], transport: Transport): Promise<Array<{ step: PlanStep; text: string }>> {
  const found: Array<{ step: PlanStep; text: string }> = [];
  for (const step of steps)
    for (const check of step.discardCheck ?? []) {
      const r = await transport.exec(check.cmd);
      if (r.exitCode !== 0) throw new BgError(`cannot tell what undoing "${step.name}" would discard on ${transport.host}: ${r.stderr.trim() || `exit ${r.exitCode}`}`, ExitCode.stepFailed);
      if (r.stdout.trim()) found.push({ step, text: r.stdout.trim() });
    }
  return found;
}

export interface UndoOptions {
  transport: Transport;
  /** The same host with the secrets the undo commands need (see transport/secrets.ts). */
  undoTransport: Transport;
  journal: string;
  host: string;
  target: Extract<RollbackTarget, { kind: 'undo' }>;
  force: boolean;
  waitSeconds: number;
  signal: AbortSignal;
  /** Called once the undo is about to start: from then on it is never stopped halfway. */
  undoing: () => void;
  renderer: Parameters<typeof executeRollback>[1]['renderer'];
  emit: EventSink;
  /** The lock is left (e.g. the connection is gone), also when the undo threw. */
  lockLeft: (why: string) => void;
}

/**
 * Undo the target run under the host lock: take it (or take over the run's own lock whose bg is
 * gone), wait for the run's commands still running on the host, check again what was decided
 * before the lock, undo, report (`done`, still under the lock), release.
 */
export async function undoUnderLock<T>(o: UndoOptions, done: (result: Awaited<ReturnType<typeof executeRollback>>) => T): Promise<T> {
  const { transport, journal, host, target } = o;
  const lock = new HostLock(transport, journal, runMeta(target.id, target.doc.plan.playbook.name, `bg rollback --run ${target.id}`));
  const hold = { host, lock, take: (wait: number, signal: AbortSignal) => acquireOrTakeOver(lock, transport, journal, target.id, target.doc.plan.journalDir, wait, signal) };
  const { value, left } = await withLocks(
    [hold],
    { waitSeconds: o.waitSeconds, signal: o.signal, interrupted: `interrupted while waiting for the lock on ${host}: nothing was undone`, failureFirst: true, leftOnError: (_h, why) => o.lockLeft(why) },
    async () => {
      await waitForSessions(transport, target.doc.plan.journalDir, host, target.id, o.waitSeconds, o.signal);
      await checkUnderLock(transport, journal, host, target.id, target.state.toUndo, o.force);
      o.undoing();
      return done(await executeRollback({ plan: target.doc.plan, transport: o.undoTransport, steps: target.state.toUndo }, { renderer: o.renderer, emit: o.emit }));
    },
  );
  const why = left.get(host);
  if (why) o.lockLeft(why);
  return value;
}

/**
 * Take the host lock; a lock left by the very run being undone, whose bg process on this machine
 * is gone, is taken over (that is what `bg unlock` would allow) instead of exiting 3. Its commands
 * are checked first: while one still runs, the takeover is refused and the lock stays where it is,
 * so no new run can start beside them.
 */
async function acquireOrTakeOver(lock: HostLock, transport: Transport, journal: string, runId: string, dir: string, waitSeconds: number, signal?: AbortSignal): Promise<void> {
  try {
    await lock.acquire(0, signal);
  } catch (e) {
    if (!(e instanceof LockedError)) throw e;
    const held = await readLock(transport, journal);
    // Another run's lock (or one whose holder may be alive): wait for it like any run would.
    if (!held || held.runId !== runId || !holderGone(held)) {
      await lock.acquire(waitSeconds, signal);
      return;
    }
    await waitForSessions(transport, dir, transport.host, runId, waitSeconds, signal);
    // Only if it is still that run's lock: another bg may have taken it over meanwhile.
    if (!(await removeLock(transport, journal, runId))) throw e;
    await lock.acquire(0, signal);
  }
}

/** Refuse (exit 2) when later runs still have changes built on this one, unless `force`. */
async function refuseLaterRuns(transport: Transport, journal: string, host: string, runs: RunRef[], id: string, force: boolean): Promise<void> {
  const blocking = await laterRunsBuiltOn(transport, journal, runs, id);
  if (blocking.length && !force)
    throw new BgError(`run ${id} on ${host} has later runs built on it: ${blocking.join(', ')}\nundo those first (bg rollback --host ${host} --run ID), or pass --force`, ExitCode.badInput);
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
    if (r.state === JOURNAL_STATE.corrupt) blocking.push(`${r.id} (journal damaged: ${r.problem})`);
    else if (r.state === JOURNAL_STATE.ok) {
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
  if (read.state === JOURNAL_STATE.corrupt) throw damagedJournal(host, id, read.problem);
  const now = read.state === JOURNAL_STATE.ok ? runState(read.doc.plan, read.events).toUndo : [];
  if (now.map((s) => s.index).join() !== toUndo.map((s) => s.index).join())
    throw new BgError(`the journal of run ${id} on ${host} changed while bg waited for the lock (another bg rollback?): nothing was undone; run bg rollback again to see what is left`, ExitCode.locked);
  await refuseLaterRuns(transport, journal, host, runs, id, force);
  const missing = await missingUndoBackups(transport, read.state === JOURNAL_STATE.ok ? read.doc.plan.journalDir : '', toUndo);
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
      `bg cannot tell what that run changed, so it undoes nothing. The run's steps and their undo commands are in ${RUN_FILES.run}, what ran is in ${RUN_FILES.log} (bg history shows the run). ` +
      `Repair the file and run bg rollback again, or undo the run's steps by hand.`,
    ExitCode.badInput,
  );
}

/** Refuse (exit 3) while a command of the run still runs on the host: undoing under it races it. */
async function waitForSessions(transport: Transport, dir: string, host: string, runId: string, waitSeconds: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + waitSeconds * 1000;
  for (;;) {
    if (signal?.aborted) throw new BgError(`interrupted while waiting for run ${runId}'s commands on ${host} to end: nothing was undone`, ExitCode.locked);
    const live = await liveSessions(transport, dir);
    if (live.length === 0) return;
    if (Date.now() >= deadline)
      throw new BgError(`run ${runId} still has commands running on ${host} (their connection died, they did not):\n  ${live.join('\n  ')}\nwait for them to end (--lock-wait SECONDS), or stop them, then run bg rollback again`, ExitCode.locked);
    await new Promise((r) => setTimeout(r, 1000));
  }
}
