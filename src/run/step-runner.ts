import type { Command, PlanStep, Probe, RetryPolicy } from '../plan/types.js';
import type { CommandResult, Transport } from '../transport/transport.js';
import { ConnectionError } from '../errors.js';
import { StepFailure, type Phase } from './step-error.js';
import { stepCommand } from '../remote/assemble.js';

/** What the runner tells the outside world; renderers and the JSON stream listen. */
export interface StepObserver {
  command?(e: { phase: Phase; command: Command; result: CommandResult; attempt: number }): void;
  waiting?(e: { phase: Phase; command: Command; attempt: number; of: number; delayMs: number; result: CommandResult }): void;
}

export interface StepContext {
  transport: Transport;
  observer?: StepObserver;
  signal?: AbortSignal;
  /** Default per-command timeout when the plan sets none. */
  commandTimeoutMs?: number;
  /** Put before every changing command (not probes): records its process for `bg rollback`/`bg unlock`. */
  commandPrefix?: string;
  /** Put before the step's first command only, once (the journal's step-start line). */
  firstCommandPrefix?: string;
  /** The remote library the commands call (an earlier run's hash for `bg rollback`); default this bg's. */
  library?: string;
}

/** Run one step: capture, commands, then verify probes. Throws StepFailure on the first failure. */
export async function runStep(step: PlanStep, ctx: StepContext): Promise<void> {
  for (const c of step.capture) await runOnce(step, 'capture', c, ctx);
  for (const c of step.run) await runOnce(step, 'run', c, ctx);
  for (const p of step.verify) await probe(step, p, ctx);
}

/** Run a step's undo commands (verified by their exit status). */
export async function undoStep(step: PlanStep, ctx: StepContext): Promise<void> {
  for (const c of step.undo) await runOnce(step, 'undo', c, ctx);
}

async function runOnce(step: PlanStep, phase: Phase, command: Command, ctx: StepContext): Promise<CommandResult> {
  // Interrupted before this command was sent: send nothing (a command killed as it starts may
  // still have done part of its work).
  if (ctx.signal?.aborted) throw new StepFailure(ctx.transport.host, step, phase, command, interrupted());
  const cmd = stepCommand({ journalLine: ctx.firstCommandPrefix, sessionRecord: step.mutates ? ctx.commandPrefix : undefined, command: command.cmd });
  ctx.firstCommandPrefix = undefined;
  const result = await exec({ ...command, cmd }, ctx);
  ctx.observer?.command?.({ phase, command, result, attempt: 1 });
  if (result.exitCode !== 0) throw new StepFailure(ctx.transport.host, step, phase, command, result);
  return result;
}

async function probe(step: PlanStep, p: Probe, ctx: StepContext): Promise<void> {
  const policy: RetryPolicy = p.retry ?? { attempts: 1, intervalMs: 0, factor: 1, maxIntervalMs: 0 };
  let delay = policy.intervalMs;
  for (let attempt = 1; ; attempt++) {
    if (ctx.signal?.aborted) throw new StepFailure(ctx.transport.host, step, 'verify', p, interrupted(), attempt);
    const result = await exec(p, ctx);
    ctx.observer?.command?.({ phase: 'verify', command: p, result, attempt });
    if (result.exitCode === 0) return;
    // A lost connection is not a probe to retry: the next attempt could only fail to connect.
    if (attempt >= policy.attempts || ctx.signal?.aborted || result.connectionLost)
      throw new StepFailure(ctx.transport.host, step, 'verify', p, result, attempt);
    ctx.observer?.waiting?.({ phase: 'verify', command: p, attempt, of: policy.attempts, delayMs: delay, result });
    await sleep(delay, ctx.signal);
    delay = Math.min(delay * policy.factor, policy.maxIntervalMs);
  }
}

/** Run a command; a connection that is already gone becomes a result too, so the step names it. */
async function exec(command: Command, ctx: StepContext): Promise<CommandResult> {
  try {
    const timeoutMs = command.timeoutMs ?? ctx.commandTimeoutMs;
    const timeoutSource = command.timeoutMs ? "the step's timeout:" : ctx.commandTimeoutMs ? 'the run\'s command timeout' : undefined;
    return await ctx.transport.exec(command.cmd, { timeoutMs, timeoutSource, signal: ctx.signal, library: ctx.library });
  } catch (e) {
    if (!(e instanceof ConnectionError)) throw e;
    return { exitCode: 255, stdout: '', stderr: `bg: ${e.reason}`, durationMs: 0, connectionLost: true };
  }
}

/** The result of a command that was never sent because bg was interrupted. */
function interrupted(): CommandResult {
  return { exitCode: 130, stdout: '', stderr: 'bg: interrupted before this command was sent; it did not run', durationMs: 0, signal: 'SIGINT' };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => (clearTimeout(t), resolve());
    // The listener goes with the timer: a long retry loop must not pile listeners on the signal.
    const t = setTimeout(() => (signal?.removeEventListener('abort', onAbort), resolve()), ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
