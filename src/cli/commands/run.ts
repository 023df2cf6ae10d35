import { color } from 'listr2';
import { ExitCode } from '../../errors.js';
import type { Plan } from '../../plan/types.js';
import type { EventSink } from '../../run/events.js';
import { trapInterrupts, type Interrupts } from '../signals.js';
import { executeRuns, type HostOutcome } from '../../run/executor.js';
import { closeAll, connectAll } from '../connect.js';
import { HostLock } from '../../run/lock.js';
import { preparePreflight, type CheckResult } from '../../run/preflight.js';
import { checksRun } from '../../run/step-runner.js';
import { withLocks } from '../../run/with-lock.js';
import { withSecrets } from '../../transport/secrets.js';
import { runMeta } from '../../run/run-meta.js';
import { planFromArgs } from '../context.js';
import { readLiveColors } from '../live.js';
import { chooseRenderer, eventSink, fanOut } from '../output.js';
import { SummaryCollector, writeStepSummary } from '../github.js';
import { printPlans, type PrintArgs } from './plan.js';
import { multiLine, oneLine } from '../sanitize.js';
import { HOST_STATUS } from '../../run/outcomes.js';
import { checkUploads, uploadOne } from '../upload.js';

export interface RunArgs extends PrintArgs {
  dryRun?: boolean;
  lockWait?: number;
  allowBreaking?: boolean;
  ci?: boolean;
  rollback?: boolean;
  serial?: number;
  acceptNewHostKey?: boolean;
}

/** `bg run`: plan, connect to every host, execute, report. Returns the exit code. */
export async function runCommand(args: RunArgs): Promise<number> {
  if (args.dryRun) return printPlans(args);
  const { plans } = planFromArgs(args, undefined, await readLiveColors(args));
  checkUploads(plans.flatMap((p) => p.plan.uploads ?? []));
  // SIGINT/SIGTERM from here on: stop waiting/the running step, roll back, release the locks.
  let phase: 'locking' | 'running' = 'locking';
  const touched = new Set<string>();
  const runs: Array<{ plan: Plan }> = plans.map((p) => ({ plan: p.plan }));
  const interrupts = trapInterrupts({
    first: () => (phase === 'locking' ? 'stopping; nothing has run' : 'stopping the running step and rolling back'),
    second: () => (phase === 'locking' ? { code: ExitCode.locked, message: quitWhileLocking(runs) } : { code: ExitCode.rollbackIncomplete, message: quitWhileRunning(runs, touched) }),
  });
  try {
    return await runLocked(args, plans, interrupts, () => (phase = 'running'), touched);
  } finally {
    interrupts.dispose();
  }
}

async function runLocked(
  args: RunArgs,
  plans: ReturnType<typeof planFromArgs>['plans'],
  interrupts: Interrupts,
  started: () => void,
  touched: Set<string>,
): Promise<number> {
  const transports = await connectAll(
    plans.map((p) => ({ name: p.plan.host.name, config: p.config })),
    { acceptNewHostKey: args.acceptNewHostKey },
  );
  const command = `bg run ${args.playbook} --host ${args.host}`;
  const runs = plans.map((p) => {
    const meta = runMeta(p.plan.runId, p.plan.playbook.name, command);
    const transport = withSecrets(transports.get(p.plan.host.name)!, p.secrets);
    return { plan: p.plan, meta, transport, lock: new HostLock(transport, p.config.journal, meta), preflight: undefined as CheckResult[] | undefined };
  });
  // All hosts in one batch: each host's pre-flight runs in the same round trip as its lock's take.
  // With --serial, a later batch checks its hosts when it starts, as they are then.
  const withTake = !args.serial || args.serial >= runs.length;
  const summary = new SummaryCollector();
  // Hosts where a step started: what a second signal leaves for a person to finish.
  const track: EventSink = (e) => void (e.type === 'step-start' && touched.add(e.host));
  try {
    // Each host's last journal line goes out with its lock's release: one round trip.
    const runEnds = new Map<string, string>();
    const holds = runs.map((r) => {
      const beforeRelease = () => runEnds.get(r.plan.host.name);
      // A release's upload goes to the host under the lock and before the checks (which read it).
      const pre = withTake && !r.plan.uploads?.length ? preparePreflight(r.plan) : undefined;
      if (!pre?.commands.length) return { host: r.plan.host.name, lock: r.lock, beforeRelease };
      const checks = checksRun(r.transport, pre.commands);
      const take = async (waitSeconds: number, signal: AbortSignal) => {
        const raw = await r.lock.acquire(waitSeconds, signal, checks);
        if (raw) r.preflight = await pre.judge(checks.results(raw), { allowBreaking: args.allowBreaking });
      };
      return { host: r.plan.host.name, lock: r.lock, take, beforeRelease };
    });
    const interrupted = 'interrupted before the run started: nothing ran and no lock of this run is left';
    const { value: outcomes, left: leftLocks } = await withLocks(holds, { waitSeconds: args.lockWait ?? 0, signal: interrupts.signal, interrupted }, async () => {
      // A release's local source goes to each host first, under the lock (before its pre-flight).
      for (const r of runs) for (const u of r.plan.uploads ?? []) await uploadOne(r.transport, u);
      started();
      return executeRuns(runs, {
        renderer: chooseRenderer(args),
        emit: fanOut(track, eventSink(args), summary.sink),
        noRollback: args.rollback === false,
        allowBreaking: args.allowBreaking,
        batchSize: args.serial,
        signal: interrupts.signal,
        deferRunEnd: (host, command) => void runEnds.set(host, command),
      });
    });
    report(outcomes, args, leftLocks);
    // The summary is a courtesy: it never changes the outcome's exit code.
    if (process.env.GITHUB_STEP_SUMMARY)
      try {
        writeStepSummary(process.env.GITHUB_STEP_SUMMARY, `${args.playbook} on ${args.host}`, outcomes, summary);
      } catch (e) {
        process.stderr.write(`bg: warning: cannot write the step summary to $GITHUB_STEP_SUMMARY (${process.env.GITHUB_STEP_SUMMARY}): ${(e as Error)?.message ?? e}\n`);
      }
    return worst(outcomes);
  } finally {
    await closeAll(transports);
  }
}

/** A second signal while locks were being taken: a lock may have been taken a moment ago. */
function quitWhileLocking(runs: Array<{ plan: Plan }>): string {
  return `Nothing ran. A lock of this run may be left: ${runs.map((r) => `bg unlock --host ${r.plan.host.name}`).join('; ')}`;
}

/** A second signal during the run: which hosts are left changed, and the commands that finish the job. */
function quitWhileRunning(runs: Array<{ plan: Plan }>, touched: Set<string>): string {
  const lines = ['The run was stopped where it was; its rollback did not complete: a person must look. Its commands in flight were killed.'];
  for (const { plan } of runs) {
    const h = plan.host.name;
    if (touched.has(h))
      lines.push(`  ${h}: run ${plan.runId} may have changed it. Undo it with: bg rollback --host ${h} --run ${plan.runId}  (it takes over this run's lock; bg unlock --host ${h} only removes the lock)`);
    else lines.push(`  ${h}: no step had started; remove this run's lock with: bg unlock --host ${h}`);
  }
  return lines.join('\n');
}

/** Most urgent first: 4 (a person must look), 70 (a bug in bg), 5, 3, 2, 1; 0 only when every host is done. */
const SEVERITY: number[] = [ExitCode.rollbackIncomplete, ExitCode.internal, ExitCode.unreachable, ExitCode.locked, ExitCode.badInput, ExitCode.stepFailed];

export function worst(outcomes: HostOutcome[]): number {
  const codes = outcomes.map((o) => o.exitCode);
  const found = SEVERITY.find((c) => codes.includes(c as ExitCode));
  if (found !== undefined) return found;
  // A code outside the contract, or a host not done with exit 0: still never success.
  if (codes.some((c) => c !== ExitCode.ok) || outcomes.some((o) => o.status !== HOST_STATUS.done)) return ExitCode.internal;
  return ExitCode.ok;
}

function report(outcomes: HostOutcome[], args: RunArgs, leftLocks: Map<string, string>): void {
  const err = (s: string) => process.stderr.write(s + '\n');
  const out = (s: string) => (args.json ? err(s) : process.stdout.write(s + '\n'));
  for (const [host, why] of leftLocks) err(color.yellow(`bg: the lock on ${host} is left (${why}); once it answers and no command of this run is still running there: bg unlock --host ${host}`));
  for (const o of outcomes) {
    const secs = (o.durationMs / 1000).toFixed(1);
    switch (o.status) {
      case HOST_STATUS.done:
        out(color.green(`✔ ${o.host}: ${o.stepsDone} steps done in ${secs}s (run ${o.runId})`));
        break;
      case HOST_STATUS.notStarted:
        err(color.yellow(`- ${o.host}: ${multiLine(o.failure?.message ?? 'not started')}; nothing was changed there`));
        break;
      default:
        err(color.red(`✖ ${multiLine(o.failure?.message ?? 'failed')}`));
        if (o.status === HOST_STATUS.preflightFailed) break;
        if (o.status === HOST_STATUS.rolledBack) err(color.yellow(`↩ ${o.host}: rolled back; the host is as it was before run ${o.runId}`));
        if (o.status === HOST_STATUS.failedNoRollback)
          err(color.yellow(`${o.host}: left as it is (--no-rollback). To undo: bg rollback --host ${o.host} --run ${o.runId}`));
        if (o.status === HOST_STATUS.rollbackIncomplete) {
          err(color.red(`${o.host}: ROLLBACK INCOMPLETE — a person must look.`));
          if (o.undoFailure) err(multiLine(o.undoFailure.message));
          err('Not undone, newest first:');
          for (const s of o.left) err(`  ${s.index}. ${oneLine(s.name)}${s.undo.length ? '' : ` (${oneLine(s.undoNote ?? 'no undo')})`}`);
          err(`journal: ${o.host}:${o.runId}`);
          // bg rollback cannot do what has no undo: only point at it when there is something it can do.
          if (o.left.some((s) => s.undo.length))
            err(`To finish the rollback once ${o.host} answers: ${leftLocks.has(o.host) ? `bg unlock --host ${o.host}, then ` : ''}bg rollback --host ${o.host} --run ${o.runId}`);
          else err(`bg has no undo for these steps: put back by hand what they changed on ${o.host}; every other step was undone.`);
        }
    }
  }
}
