// One step, one round trip: the whole step (capture, run, verify with its retries, undo) runs on
// the host in a single invocation of the remote step runner (bg_step, src/remote/step.sh), which
// journals the step's start and outcome itself and streams an event per command. The controller
// still runs steps one at a time and goes on only with the verified result. When the connection
// drops, the host side finishes the step and journals how it ended: the next bg reads that.
import { randomBytes } from 'node:crypto';
import type { Command, PlanStep, Probe, RetryPolicy } from '../plan/types.js';
import { commandBound, timeoutNote, type Bound, type CommandResult, type ExecOptions, type Transport } from '../transport/transport.js';
import { ConnectionError } from '../errors.js';
import { StepFailure, type Phase } from './step-error.js';
import { stepInvocation, type StepEntry } from '../remote/assemble.js';
import { parseStepEvent, type StepEvent } from './step-events.js';

/** What the runner tells the outside world; renderers and the JSON stream listen. */
export interface StepObserver {
  command?(e: { phase: Phase; command: Command; result: CommandResult; attempt: number }): void;
  waiting?(e: { phase: Phase; command: Command; attempt: number; of: number; delayMs: number; result: CommandResult }): void;
}

export interface StepContext {
  transport: Transport;
  /** The run's directory on the host (journal, process record, the step's output files). */
  runDir: string;
  observer?: StepObserver;
  signal?: AbortSignal;
  /** Default per-command timeout when the plan sets none. */
  commandTimeoutMs?: number;
  /** The remote library the commands call (an earlier run's hash for `bg rollback`); default this bg's. */
  library?: string;
  /**
   * A command (and its stdin) sent in front of the step in the same round trip: the journal's
   * start before the first step. When it fails, nothing of the step runs (PreludeFailed).
   */
  prelude?: { cmd: string; stdin: string };
}

/** The step's prelude (the journal's start) failed on the host: nothing of the step ran. */
export class PreludeFailed extends Error {
  constructor(readonly stderr: string) {
    super(stderr || 'the command in front of the step failed');
  }
}

/** Slack on top of the commands' own bounds (enforced on the host) before bg gives up on the whole step. */
const STEP_SLACK_MS = 30_000;

/** Run one step: capture, commands, then verify probes. Throws StepFailure on the first failure. */
export async function runStep(step: PlanStep, ctx: StepContext): Promise<void> {
  const plan: Array<{ phase: Phase; command: Command | Probe }> = [
    ...step.capture.map((command) => ({ phase: 'capture' as const, command })),
    ...step.run.map((command) => ({ phase: 'run' as const, command })),
    ...step.verify.map((command) => ({ phase: 'verify' as const, command })),
  ];
  await runOnHost(step, 'step', step.mutates, plan, ctx);
}

/** Run a step's undo commands (verified by their exit status), journaled as its undo. */
export async function undoStep(step: PlanStep, ctx: StepContext): Promise<void> {
  await runOnHost(step, 'undo', true, step.undo.map((command) => ({ phase: 'undo' as const, command })), ctx);
}

interface Entry {
  phase: Phase;
  command: Command | Probe;
  bound: Bound;
  delaysMs: number[];
}

async function runOnHost(step: PlanStep, mode: 'step' | 'undo', journal: boolean, list: Array<{ phase: Phase; command: Command | Probe }>, ctx: StepContext): Promise<void> {
  const host = ctx.transport.host;
  const entries: Entry[] = list.map(({ phase, command }) => ({ phase, command, bound: boundOf(command, ctx), delaysMs: phase === 'verify' ? retryDelays((command as Probe).retry) : [] }));
  // Interrupted before the step was sent: send nothing.
  if (ctx.signal?.aborted && entries[0]) throw new StepFailure(host, step, entries[0].phase, entries[0].command, interrupted());
  if (!entries.length && !journal && !ctx.prelude) return;
  const nonce = randomBytes(8).toString('hex');
  const invocation = stepInvocation({
    mode,
    runDir: ctx.runDir,
    step: step.index,
    journal,
    nonce,
    entries: entries.map((e): StepEntry => ({ phase: e.phase as StepEntry['phase'], timeoutMs: e.bound.ms, delaysMs: e.delaysMs, cmd: e.command.cmd })),
  });
  // The prelude's failure is an event of its own: the step runner never started.
  const cmd = ctx.prelude ? `{ ${ctx.prelude.cmd}; } || { printf '%s prelude-failed\\n' ${nonce}; exit 1; }\n${invocation}` : invocation;
  const reader = new StepStreamReader(nonce, entries, ctx);
  const total = entries.reduce((n, e) => n + e.bound.ms * (e.delaysMs.length + 1) + e.delaysMs.reduce((a, b) => a + b, 0), STEP_SLACK_MS);
  const options: ExecOptions = { stdin: ctx.prelude?.stdin, timeoutMs: total, timeoutSource: "the sum of the step's command bounds", signal: ctx.signal, library: ctx.library, framed: true, onStdout: (chunk) => reader.feed(chunk) };
  let raw: CommandResult;
  try {
    raw = await ctx.transport.exec(cmd, options);
  } catch (e) {
    if (!(e instanceof ConnectionError)) throw e;
    raw = { exitCode: 255, stdout: '', stderr: `bg: ${e.reason}`, durationMs: 0, connectionLost: true };
  }
  reader.finish(raw.stdout);
  if (reader.preludeFailed) throw new PreludeFailed(raw.stderr.trim());
  const end = reader.end;
  if (end?.ok) return;
  const at = reader.failedEntry() ?? entries[0];
  if (end && end.phase === 'journal') {
    const what = end.how === 'nodir' ? 'cannot create the step\'s output directory' : 'cannot write the journal';
    const result: CommandResult = { exitCode: 1, stdout: '', stderr: `bg: ${what} in ${ctx.runDir} on ${host}; nothing of the step ran\n${raw.stderr}`.trimEnd(), durationMs: raw.durationMs };
    throw new StepFailure(host, step, 'journal', { cmd: `journal ${mode === 'undo' ? 'undo-start' : 'step-start'} of step ${step.index}` }, result);
  }
  if (end && at) {
    const f = new StepFailure(host, step, at.phase, at.command, reader.lastResult ?? raw, reader.attempts);
    f.journaled = true;
    throw f;
  }
  // No end: the connection dropped, bg stopped the step, or it died. What the host journals is the truth.
  const lost = raw.connectionLost
    ? `${raw.stderr}\nbg: the step goes on on the host without bg and journals how it ends: \`bg status\` shows it, \`bg rollback\` undoes it`
    : raw.stderr;
  const result: CommandResult = { ...raw, stdout: reader.lastResult?.stdout ?? '', stderr: [reader.lastResult?.stderr, lost].filter(Boolean).join('\n') };
  if (!at) throw new StepFailure(host, step, 'run', { cmd }, result);
  throw new StepFailure(host, step, at.phase, at.command, result, reader.attempts);
}

/**
 * Pre-flight: every check in one invocation on the host (bg_step in `checks` mode: each runs, also
 * after one failed; nothing is journaled). One result per check, in order; a check the host never
 * reached (a lost connection, an interrupt) gets the invocation's own result.
 */
export async function runChecks(transport: Transport, checks: Command[], signal?: AbortSignal): Promise<CommandResult[]> {
  if (!checks.length) return [];
  const run = checksRun(transport, checks);
  let raw: CommandResult;
  try {
    raw = await transport.exec(run.cmd, { timeoutMs: run.timeoutMs, timeoutSource: "the sum of the pre-flight checks' bounds", signal, framed: true });
  } catch (e) {
    if (!(e instanceof ConnectionError)) throw e;
    raw = { exitCode: 255, stdout: '', stderr: `bg: ${e.reason}`, durationMs: 0, connectionLost: true };
  }
  return run.results(raw);
}

/**
 * The pre-flight invocation, to send alone (runChecks) or behind another command in the same
 * round trip (the host lock's take), and how to read its output back into one result per check.
 */
export function checksRun(transport: Transport, checks: Command[]): { cmd: string; timeoutMs: number; results(raw: CommandResult): CommandResult[] } {
  const ctx: StepContext = { transport, runDir: '-' };
  const entries: Entry[] = checks.map((command) => ({ phase: 'check', command, bound: boundOf(command, ctx), delaysMs: [] }));
  const nonce = randomBytes(8).toString('hex');
  const cmd = stepInvocation({ mode: 'checks', runDir: '-', step: 0, journal: false, nonce, entries: entries.map((e) => ({ phase: 'check', timeoutMs: e.bound.ms, cmd: e.command.cmd })) });
  return {
    cmd,
    timeoutMs: entries.reduce((n, e) => n + e.bound.ms, STEP_SLACK_MS),
    results(raw) {
      const results: Array<CommandResult | undefined> = [];
      const reader = new StepStreamReader(nonce, entries, { ...ctx, observer: { command: ({ command, result }) => void (results[checks.indexOf(command)] = result) } });
      reader.finish(raw.stdout);
      return checks.map((_, i) => results[i] ?? { ...raw, exitCode: raw.exitCode || 1, stdout: '', stderr: raw.stderr || 'bg: the check did not run' });
    },
  };
}

/** The bound of one command: its own timeout, else the run's, else the host's default (commandBound). */
function boundOf(command: Command, ctx: StepContext): Bound {
  const o: ExecOptions = command.timeoutMs
    ? { timeoutMs: command.timeoutMs, timeoutSource: "the step's timeout:" }
    : ctx.commandTimeoutMs
      ? { timeoutMs: ctx.commandTimeoutMs, timeoutSource: "the run's command timeout" }
      : {};
  return ctx.transport.boundFor?.(o) ?? commandBound(o);
}

/** The waits before attempts 2…n of a probe (its retry policy, computed here so the host needs no arithmetic). */
export function retryDelays(policy: RetryPolicy | undefined): number[] {
  if (!policy || policy.attempts <= 1) return [];
  const out: number[] = [];
  let delay = policy.intervalMs;
  for (let i = 1; i < policy.attempts; i++) {
    out.push(delay);
    delay = Math.min(delay * policy.factor, policy.maxIntervalMs);
  }
  return out;
}

/** Turns the step's event lines into observer calls and results, as they arrive. */
class StepStreamReader {
  private buffer = '';
  private current = 0;
  private lines = 0;
  end?: Extract<StepEvent, { kind: 'end' }>;
  preludeFailed = false;
  lastResult?: CommandResult;
  attempts = 1;

  constructor(
    private readonly nonce: string,
    private readonly entries: Entry[],
    private readonly ctx: StepContext,
  ) {}

  feed(chunk: string): void {
    this.buffer += chunk;
    let i: number;
    while ((i = this.buffer.indexOf('\n')) >= 0) {
      this.line(this.buffer.slice(0, i));
      this.buffer = this.buffer.slice(i + 1);
    }
  }

  /** The whole stdout once the command ended: lines the stream did not deliver (a transport without streaming) are read now. */
  finish(stdout: string): void {
    const all = stdout.split('\n');
    // Lines already seen through feed() are skipped by count.
    for (const l of all.slice(this.lines)) this.line(l);
  }

  failedEntry(): Entry | undefined {
    return this.entries[this.current];
  }

  private line(text: string): void {
    this.lines++;
    const e = parseStepEvent(text, this.nonce);
    if (!e) return;
    if (e.kind === 'cmd') {
      const entry = this.entries[e.n - 1];
      if (!entry) return;
      this.current = e.n - 1;
      this.attempts = e.attempt;
      const result = this.result(entry, e);
      this.lastResult = result;
      this.ctx.observer?.command?.({ phase: entry.phase, command: entry.command, result, attempt: e.attempt });
      if (e.exitCode === 0) this.current = e.n;
    } else if (e.kind === 'wait') {
      const entry = this.entries[e.n - 1];
      if (!entry || !this.lastResult) return;
      this.ctx.observer?.waiting?.({ phase: entry.phase, command: entry.command, attempt: e.attempt, of: entry.delaysMs.length + 1, delayMs: e.delayMs, result: this.lastResult });
    } else if (e.kind === 'skipped') {
      this.current = e.n - 1;
      this.lastResult = interrupted();
    } else if (e.kind === 'end') {
      this.end = e;
    } else if (e.kind === 'prelude-failed') {
      this.preludeFailed = true;
    }
  }

  private result(entry: Entry, e: Extract<StepEvent, { kind: 'cmd' }>): CommandResult {
    const redact = (t: string) => (this.ctx.transport.redact ? this.ctx.transport.redact(t) : t);
    let stderr = redact(e.stderr).replace(/\n$/, '');
    const r: CommandResult = { exitCode: e.exitCode, stdout: redact(e.stdout).replace(/\n$/, ''), stderr, durationMs: e.durationMs };
    if (e.how === 'timeout') {
      r.timedOut = true;
      r.signal = 'SIGTERM';
      r.exitCode = 124;
      stderr = stderr ? `${stderr}\n${timeoutNote(entry.bound)}` : timeoutNote(entry.bound);
    } else if (e.how === 'INT' || e.how === 'TERM') {
      r.signal = `SIG${e.how}`;
      stderr = stderr ? `${stderr}\nbg: cancelled (interrupted)` : 'bg: cancelled (interrupted)';
    }
    r.stderr = stderr;
    return r;
  }
}

/** The result of a command that was never sent because bg was interrupted. */
function interrupted(): CommandResult {
  return { exitCode: 130, stdout: '', stderr: 'bg: interrupted before this command was sent; it did not run', durationMs: 0, signal: 'SIGINT' };
}
