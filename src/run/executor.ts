import { Listr, type ListrTask, type ListrTaskWrapper, type ListrRendererValue } from 'listr2';
import { BgError, ExitCode, formatInternalError } from '../errors.js';
import type { Plan, PlanStep } from '../plan/types.js';
import type { Transport } from '../transport/transport.js';
import type { EventSink, HostStatus } from './events.js';
import type { RunEndDetail } from './outcomes.js';
import { Journal } from './journal.js';
import { describeFailedChecks, isUnreachable, runPreflight, type CheckResult } from './preflight.js';
import type { RunMeta } from './run-meta.js';
import { PreludeFailed, runStep, undoStep, type StepContext } from './step-runner.js';
import { multiLine, oneLine } from '../cli/sanitize.js';
import { StepFailure } from './step-error.js';
import { copyAfterStep } from './offhost.js';
import { library } from '../remote/library.js';
import { libraryAvailable } from '../remote/install.js';

export interface HostRun {
  plan: Plan;
  meta: RunMeta;
  /** Connected before the run starts, so that a host that cannot be reached changes nothing. */
  transport: Transport;
  /** The pre-flight's results when they were taken with the host lock (run/preflight.ts); else the executor runs it. */
  preflight?: CheckResult[];
}

export interface ExecuteOptions {
  renderer: ListrRendererValue;
  emit: EventSink;
  noRollback?: boolean;
  /** Let migrations that `bg lint` finds breaking run anyway. */
  allowBreaking?: boolean;
  /** How many hosts run at once; each batch finishes the whole playbook before the next starts. */
  batchSize?: number;
  signal?: AbortSignal;
  /**
   * Take each host's last journal line (run-end) to send with its lock's release, in the same
   * round trip (bg run); without it the executor writes it itself.
   */
  deferRunEnd?: (host: string, command: string) => void;
}

export interface HostOutcome {
  host: string;
  runId: string;
  status: HostStatus;
  exitCode: ExitCode;
  stepsDone: number;
  failure?: Error;
  /** Steps whose undo failed or was never reached: what a person must look at. */
  left: PlanStep[];
  /** Why the rollback stopped, when it did. */
  undoFailure?: Error;
  durationMs: number;
}

type Task = ListrTaskWrapper<unknown, any, any>;

/** Run plans on their hosts through listr2. The only place where plan steps are executed. */
export async function executeRuns(runs: HostRun[], opts: ExecuteOptions): Promise<HostOutcome[]> {
  const outcomes = new Map<string, HostOutcome>();
  const size = Math.max(1, opts.batchSize ?? runs.length);
  let stoppedBy: string | undefined;
  for (let i = 0; i < runs.length; i += size) {
    const batch = runs.slice(i, i + size);
    const tasks: ListrTask[] = batch.map((r) => ({
      title: oneLine(runs.length > 1 ? `${r.plan.host.name} (${r.plan.host.target})` : `${r.plan.playbook.name} on ${r.plan.host.name}`),
      task: async (_ctx, task) => {
        const outcome = await runHost(r, task, opts);
        outcomes.set(r.plan.host.name, outcome);
        // listr2 shows one line; the full failure is reported once, after the run.
        if (outcome.failure) throw new Error(taskLine(outcome));
      },
    }));
    // Listr's own rejection carries nothing new: each host's failure is in its outcome.
    await new Listr(tasks, {
      concurrent: batch.length > 1,
      exitOnError: false,
      renderer: opts.renderer,
      fallbackRenderer: 'simple',
      rendererOptions: { collapseSubtasks: false, showErrorMessage: true } as object,
      registerSignalListeners: false,
    })
      .run()
      .catch(() => undefined);
    // A host of this batch without an outcome is a bug in bg: never let it read as success.
    for (const r of batch)
      if (!outcomes.has(r.plan.host.name))
        outcomes.set(r.plan.host.name, internalOutcome(r, new Error('the run ended without an outcome')));
    // A failed batch stops the batches that have not started.
    const failed = batch.find((r) => outcomes.get(r.plan.host.name)!.exitCode !== ExitCode.ok);
    if (failed) {
      stoppedBy = failed.plan.host.name;
      break;
    }
  }
  return runs.map(
    (r) =>
      outcomes.get(r.plan.host.name) ?? {
        host: r.plan.host.name,
        runId: r.plan.runId,
        status: 'not-started',
        // Nothing ran there, but the deploy did not happen: never 0.
        exitCode: ExitCode.stepFailed,
        stepsDone: 0,
        failure: new Error(`not started: the run on ${stoppedBy ?? 'an earlier host'} failed`),
        left: [],
        durationMs: 0,
      },
  );
}

/** The one line listr2 shows beside a failed host. */
function taskLine(o: HostOutcome): string {
  if (o.exitCode === ExitCode.internal) return 'internal error';
  if (o.status === 'rolled-back') return 'failed; rolled back';
  if (o.status === 'rollback-incomplete') return 'failed; ROLLBACK INCOMPLETE';
  if (o.status === 'preflight-failed') return 'failed before changing anything';
  return 'failed; not rolled back';
}

/** A host whose run ended in an exception bg did not expect, before any step changed it. */
function internalOutcome(r: HostRun, e: unknown): HostOutcome {
  return { host: r.plan.host.name, runId: r.plan.runId, status: 'preflight-failed', ...errorOutcome(e), stepsDone: 0, left: [], durationMs: 0 };
}

/** Exit code and failure for an exception: a BgError keeps its code, anything else is a bug in bg (70). */
function errorOutcome(e: unknown): { exitCode: ExitCode; failure: Error } {
  if (e instanceof BgError) return { exitCode: e.exitCode, failure: e };
  const failure = new Error(formatInternalError(e).replace(/^bg: /, '').trimEnd(), { cause: e });
  return { exitCode: ExitCode.internal, failure };
}

/**
 * One host's run. Never rejects: an exception outside the steps (pre-flight, journal, rollback
 * machinery) becomes a failed outcome with its own exit code instead of vanishing in listr2.
 */
async function runHost(r: HostRun, hostTask: Task, opts: ExecuteOptions): Promise<HostOutcome> {
  const started = performance.now();
  const changed: PlanStep[] = [];
  try {
    return await runHostSteps(r, hostTask, opts, changed);
  } catch (e) {
    const { exitCode, failure } = errorOutcome(e);
    const durationMs = performance.now() - started;
    const base = { host: r.plan.host.name, runId: r.plan.runId, stepsDone: 0, failure, durationMs };
    // Once a step may have changed the host, nobody knows what is left: a person must look.
    const mutated = changed.filter((s) => s.mutates);
    const outcome: HostOutcome = mutated.length
      ? { ...base, status: 'rollback-incomplete', exitCode: ExitCode.rollbackIncomplete, left: mutated.reverse(), undoFailure: failure }
      : { ...base, status: 'preflight-failed', exitCode, left: [] };
    try {
      opts.emit({ type: 'run-end', host: outcome.host, runId: outcome.runId, outcome: outcome.status, exitCode: outcome.exitCode, durationMs });
    } catch {
      // The outcome is returned either way; an output that cannot take it must not hide it.
    }
    return outcome;
  }
}

async function runHostSteps({ plan, meta, transport, preflight }: HostRun, hostTask: Task, opts: ExecuteOptions, started_: PlanStep[]): Promise<HostOutcome> {
  const started = performance.now();
  const host = plan.host.name;
  const emit = opts.emit;
  const journal = new Journal(transport, plan.journalDir);
  let stepsDone = 0;
  const base = { host, runId: plan.runId };
  const finish = (status: HostStatus, exitCode: ExitCode, failure?: Error, left: PlanStep[] = []): HostOutcome => {
    const durationMs = performance.now() - started;
    emit({ type: 'run-end', host, runId: plan.runId, outcome: status, exitCode, durationMs });
    return { ...base, status, exitCode, stepsDone, failure, left, durationMs };
  };

  emit({ type: 'run-start', host, runId: plan.runId, playbook: plan.playbook.name, steps: plan.steps.length, dryRun: false });
  if (plan.preflight.length || plan.gates.length) {
    // Run with the host lock's take when the caller did (one round trip), else here.
    const checks = preflight ?? (await runPreflight(plan, transport, { allowBreaking: opts.allowBreaking }));
    for (const c of checks) emit({ type: 'check', host, label: c.check.label ?? c.check.cmd, ok: c.ok, output: (c.result.stdout || c.result.stderr).trim() });
    const failed = describeFailedChecks(host, checks);
    // A database that refused bg's credentials or did not answer is "unreachable" (exit 5), as a host is.
    if (failed) return finish('preflight-failed', checks.some(isUnreachable) ? ExitCode.unreachable : ExitCode.stepFailed, new Error(failed));
    hostTask.output = `pre-flight: ${checks.length} checks passed`;
    // Breaking migrations let through are never passed over in silence: the lint's findings are shown.
    for (const c of checks.filter((x) => x.letThrough)) for (const line of [`${c.check.label}:`, ...c.result.stdout.split('\n')]) hostTask.output = line;
  }
  let failure: Error | undefined;
  try {
    // Interrupted (Ctrl-C, SIGTERM) before a step began: begin none, journal nothing, undo nothing.
    if (opts.signal?.aborted) throw new Error(`interrupted before the first step on ${host}: nothing was changed`);
    // run.json names the library the commands call: `bg rollback` of this run sources that one.
    // It is written in the same round trip as the first step, in front of it.
    const journaled = { ...plan, library: { hash: library().hash } };
    let prelude: StepContext['prelude'] = journal.startCommand(journaled, meta);
    if (!plan.steps.length) {
      await journal.start(journaled, meta);
      prelude = undefined;
    }
    const steps = hostTask.newListr(
      plan.steps.map((step) => ({
        // Titles and outputs show user values and host output: escaped for the terminal (cli/sanitize.ts).
        title: oneLine(`${step.index}. ${step.name}`),
        // A report (db-inspect) stays on screen once the step is done; other output is progress.
        ...(step.run.some((c) => c.report) ? { rendererOptions: { persistentOutput: true } } : {}),
        task: async (_c: unknown, t: Task) => {
          const t0 = performance.now();
          // A step that never began is neither journaled nor undone.
          if (opts.signal?.aborted) throw new Error(`interrupted before step ${step.index} began`);
          emit({ type: 'step-start', host, step: step.index, name: step.name, action: step.action });
          const ctx = stepContext(transport, t, step, opts, opts.signal, plan.journalDir);
          if (prelude) [ctx.prelude, prelude] = [prelude, undefined];
          started_.push(step);
          try {
            // The host journals the step's start (before anything changes) and its outcome itself.
            await runStep(step, ctx);
            // Controller-side, after the step's verify: the copy of what it made (backup's copy_to).
            await copyAfterStep(step, transport, ctx.observer, opts.signal);
          } catch (e) {
            if (e instanceof PreludeFailed) {
              // The journal could not be started: the step never ran, nothing is to undo.
              started_.pop();
              failure = journal.cannotWrite(e.stderr || 'the journal start failed');
              emit({ type: 'step-failed', host, step: step.index, error: failure.message });
              throw new Error(oneLine(failure.message));
            }
            emit({ type: 'step-failed', host, step: step.index, error: String((e as Error).message) });
            failure = e as Error;
            if (!journaledOnHost(e)) await journal.record('step-failed', step.index, headline(e)).catch(() => undefined);
            throw new Error(oneLine(headline(e)));
          }
          stepsDone++;
          emit({ type: 'step-done', host, step: step.index, durationMs: performance.now() - t0 });
        },
      })),
      { exitOnError: true, concurrent: false },
    );
    await steps.run();
  } catch (e) {
    failure ??= e as Error;
  }
  if (!failure) {
    // Every step is done and verified: a journal that cannot take its last line is not a failed run.
    await endRun(journal, host, 'done', opts);
    return finish('done', ExitCode.ok);
  }
  const toUndo = started_.filter((s) => s.mutates).reverse();
  if (opts.noRollback) {
    await endRun(journal, host, 'failed, not rolled back', opts);
    return finish('failed-no-rollback', ExitCode.stepFailed, failure, toUndo);
  }
  const { left, error, notUndone } = await rollback(plan, toUndo, transport, journal, hostTask, opts);
  // Steps without an undo were skipped: the host is only "as it was" when there were none.
  const incomplete = [...left, ...notUndone.filter((s) => !left.includes(s))].sort((a, b) => b.index - a.index);
  await endRun(journal, host, incomplete.length ? 'rollback incomplete' : 'rolled back', opts);
  if (!incomplete.length) return finish('rolled-back', ExitCode.stepFailed, failure);
  const undoFailure = error ?? new Error(`${notUndone.length} step${notUndone.length > 1 ? 's' : ''} that changed ${host} cannot be undone by bg`);
  return { ...finish('rollback-incomplete', ExitCode.rollbackIncomplete, failure, incomplete), undoFailure };
}

export interface RollbackOutcome {
  /** Steps whose undo failed or was never reached, newest first. */
  left: PlanStep[];
  error?: Error;
  /**
   * Steps that changed the host and have no undo (a shell step without `undo:`, a pm2 restart):
   * skipped by the rollback, so the host is NOT as it was. Each step's `undoNote` says why.
   */
  notUndone: PlanStep[];
}

/**
 * `bg rollback`: undo journaled steps of an earlier run (newest first) through the same code as the
 * automatic rollback, recording each undo in that run's journal.
 */
export async function executeRollback(run: { plan: Plan; transport: Transport; steps: PlanStep[] }, opts: ExecuteOptions): Promise<RollbackOutcome> {
  const { plan, transport, steps } = run;
  const journal = new Journal(transport, plan.journalDir);
  // Until the rollback says otherwise, nothing is undone.
  let outcome: RollbackOutcome = { left: steps, notUndone: [] };
  // The undo commands call the library of the run that wrote them: on the host, or this bg's own.
  const lib = plan.library?.hash;
  // This bg's own library is installed by the first command if it is missing: nothing to check.
  if (lib && lib !== library().hash && steps.length) {
    const available = await libraryAvailable(transport, lib);
    if (!available.ok) return { ...outcome, error: new Error(`cannot undo run ${plan.runId} on ${plan.host.name}: ${available.message}`) };
  }
  await new Listr(
    [
      {
        title: oneLine(`undo run ${plan.runId} (${plan.playbook.name}) on ${plan.host.name}`),
        task: async (_c, task) => {
          outcome = await rollback(plan, steps, transport, journal, task, opts);
          const incomplete = outcome.left.length + outcome.notUndone.length > 0;
          await journal.record('run-end', undefined, incomplete ? 'rollback incomplete' : 'rolled back').catch(() => undefined);
          if (incomplete) throw new Error('ROLLBACK INCOMPLETE');
        },
      },
    ],
    { renderer: opts.renderer, fallbackRenderer: 'simple', registerSignalListeners: false, rendererOptions: { collapseSubtasks: false } as object },
  )
    .run()
    .catch((e: unknown) => {
      // Not the task's own "ROLLBACK INCOMPLETE": an exception bg did not expect. Keep it.
      if (!outcome.error && outcome.left.length && !(e instanceof Error && e.message === 'ROLLBACK INCOMPLETE')) outcome = { ...outcome, error: errorOutcome(e).failure };
    });
  return outcome;
}

/**
 * Undo steps newest first (those marked undoLast after the rest); stop at the first undo that fails. Returns the steps left as they are:
 * every step not positively undone (or skipped as having nothing to undo) counts as left, so an
 * exception anywhere in here can never make a rollback look complete.
 */
async function rollback(plan: Plan, newestFirst: PlanStep[], transport: Transport, journal: Journal, hostTask: Task, opts: ExecuteOptions): Promise<RollbackOutcome> {
  const host = plan.host.name;
  if (newestFirst.length === 0) return { left: [], notUndone: [] };
  // Restarts are undone last, so that they see what the other undos put back.
  const steps = [...newestFirst.filter((s) => !s.undoLast), ...newestFirst.filter((s) => s.undoLast)];
  opts.emit({ type: 'rollback-start', host, steps: steps.map((s) => s.index) });
  let handled = 0;
  const notUndone: PlanStep[] = [];
  let error: Error | undefined;
  const undo = hostTask.newListr(
    steps.map((step) => ({
      title: oneLine(`undo ${step.index}. ${step.name}`),
      task: async (_c: unknown, t: Task) => {
        if (step.undo.length === 0) {
          const reason = step.undoNote ?? 'no undo';
          opts.emit({ type: 'undo-skipped', host, step: step.index, reason });
          // A step that changed the host and cannot be undone leaves the host changed: say so.
          if (step.mutates) notUndone.push(step);
          t.skip(oneLine(`${step.mutates ? 'NOT UNDONE' : 'nothing to undo'}: ${reason}`));
          handled++;
          return;
        }
        try {
          // Not cancellable by the Ctrl-C that may have caused the rollback. The host journals
          // undo-start before the undo and undone after it.
          await undoStep(step, { ...stepContext(transport, t, step, opts, undefined, plan.journalDir), library: plan.library?.hash });
          opts.emit({ type: 'undo-done', host, step: step.index });
          handled++;
        } catch (e) {
          error = e as Error;
          opts.emit({ type: 'undo-failed', host, step: step.index, error: (e as Error).message });
          if (!journaledOnHost(e)) await journal.record('undo-failed', step.index, headline(e)).catch(() => undefined);
          throw new Error(oneLine(headline(e)));
        }
      },
    })),
    { exitOnError: true, concurrent: false },
  );
  if (!hostTask.title?.startsWith('undo')) hostTask.title = `${hostTask.title} — rolling back`;
  await undo.run().catch((e: unknown) => {
    // An undo's own failure is in `error` already; anything else is a bug in bg, kept so it is reported.
    error ??= errorOutcome(e).failure;
  });
  const left = steps.slice(handled);
  return { left, error: left.length ? error : undefined, notUndone };
}

function stepContext(transport: Transport, t: Task, step: PlanStep, opts: ExecuteOptions, signal: AbortSignal | undefined, runDir: string): StepContext {
  const host = transport.host;
  return {
    transport,
    signal,
    runDir,
    observer: {
      command: ({ phase, command, result, attempt }) => {
        opts.emit({ type: 'command', host, step: step.index, phase, cmd: command.cmd, exitCode: result.exitCode, durationMs: result.durationMs, attempt, stdout: result.stdout, stderr: result.stderr });
        // A failed probe attempt is reported by `waiting` with its retry; don't say it twice.
        if (phase === 'verify' && result.exitCode !== 0) return;
        if (command.report && result.stdout.trim()) {
          t.output = reportText(result.stdout);
          return;
        }
        const last = (result.stdout || result.stderr).trimEnd().split('\n').pop();
        if (last) t.output = oneLine(last);
      },
      waiting: ({ attempt, of, delayMs, result }) => {
        const why = (result.stderr || result.stdout).trim().split('\n').pop() ?? `exit ${result.exitCode}`;
        t.output = oneLine(`attempt ${attempt}/${of} failed (${why}); retrying in ${(delayMs / 1000).toFixed(1)}s`);
      },
    },
  };
}

const REPORT_LINES = 200;

/** A command's report for the terminal: every line escaped, at most REPORT_LINES (the whole is in --json's events). */
function reportText(stdout: string): string {
  const lines = multiLine(stdout.trimEnd()).replace(/[ \t]+$/gm, '').split('\n');
  if (lines.length <= REPORT_LINES) return lines.join('\n');
  return [...lines.slice(0, REPORT_LINES), `… ${lines.length - REPORT_LINES} more lines (--json has the whole report)`].join('\n');
}

/** The run's last journal line: handed to the caller to send with the lock's release (one round trip), or written now. */
async function endRun(journal: Journal, host: string, detail: RunEndDetail, opts: ExecuteOptions): Promise<void> {
  if (opts.deferRunEnd) opts.deferRunEnd(host, journal.endCommand(detail));
  else await journal.record('run-end', undefined, detail).catch(() => undefined);
}

/** Whether the host-side step runner journaled this failure itself (else bg writes it, if it still can). */
function journaledOnHost(e: unknown): boolean {
  return e instanceof StepFailure && e.journaled;
}

/** First line of an error: what listr2 shows beside the task. */
function headline(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0] ?? '';
}

