// The executor without a host: plans written by hand, run through the scripted fake transport
// (test/harness/scripted-transport.ts). Step order, verify retries, rollback order, exit codes,
// journal write failures and interrupts, in milliseconds. The same paths against a real sh, sshd
// and sqlite3 are in test/e2e (core-run, faults, journal) and test/adversarial.
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import type { Plan, PlanStep, RetryPolicy } from '../../src/plan/types.js';
import type { RunEvent } from '../../src/run/events.js';
import { executeRuns, type HostOutcome } from '../../src/run/executor.js';
import type { RunMeta } from '../../src/run/run-meta.js';
import { RecordingTransport } from '../harness/recording-transport.js';
import { ScriptedTransport } from '../harness/scripted-transport.js';

const RUN = '20260101T000000.000Z-test';
const JOURNAL = `/j/runs/${RUN}`;
const meta: RunMeta = { runId: RUN, playbook: 'unit', command: 'bg run unit', user: 'tester', machine: 'ci', pid: 1, startedAt: '2026-01-01T00:00:00.000Z' };

/** A changing step whose commands name it: run-step-N, verify-step-N, undo-step-N. */
function step(index: number, over: Partial<PlanStep> = {}): PlanStep {
  return {
    index,
    name: `step ${index}`,
    action: 'shell',
    mutates: true,
    capture: [],
    run: [{ cmd: `run-step-${index}` }],
    verify: [{ cmd: `verify-step-${index}` }],
    undo: [{ cmd: `undo-step-${index}` }],
    ...over,
  };
}

function plan(steps: PlanStep[], over: Partial<Plan> = {}): Plan {
  return {
    version: 1,
    runId: RUN,
    playbook: { name: 'unit', file: 'unit.yaml' },
    host: { name: 'testhost', transport: 'ssh', target: 'u@h:22' },
    journalDir: JOURNAL,
    vars: {},
    preflight: [],
    gates: [],
    secrets: {},
    steps,
    ...over,
  };
}

async function run(p: Plan, t: RecordingTransport, opts: { noRollback?: boolean; signal?: AbortSignal } = {}): Promise<{ outcome: HostOutcome; events: RunEvent[] }> {
  const events: RunEvent[] = [];
  const [outcome] = await executeRuns([{ plan: p, meta, transport: t }], { renderer: 'silent', emit: (e) => events.push(e), ...opts });
  return { outcome: outcome!, events };
}

/** The step commands sent, in order (run-step-1, verify-step-1, …), without journal or session prefixes. */
const stepCommands = (t: RecordingTransport) => t.commands.flatMap((c) => c.command.match(/\b(?:run|verify|undo|capture)-step-\d+/g) ?? []);
/** The journal events written, in order, as "event" or "event N". */
const journal = (t: RecordingTransport) =>
  t.commands.flatMap((c) => [...c.command.matchAll(/"event":"([a-z-]+)"(?:,"step":(\d+))?/g)].map((m) => (m[2] ? `${m[1]} ${m[2]}` : m[1]!)));
const of = (events: RunEvent[], type: RunEvent['type']) => events.filter((e) => e.type === type).map((e) => (e as { step?: number }).step);

describe('executor: steps', () => {
  it('runs steps in order, each verified before the next, journaled before it changes anything', async () => {
    const t = new ScriptedTransport();
    const { outcome, events } = await run(plan([step(1), step(2), step(3)]), t);
    expect(outcome).toMatchObject({ status: 'done', exitCode: ExitCode.ok, stepsDone: 3 });
    expect(stepCommands(t)).toEqual(['run-step-1', 'verify-step-1', 'run-step-2', 'verify-step-2', 'run-step-3', 'verify-step-3']);
    expect(events.map((e) => e.type).filter((x) => x !== 'command')).toEqual(['run-start', 'step-start', 'step-done', 'step-start', 'step-done', 'step-start', 'step-done', 'run-end']);
    expect(journal(t)).toEqual(['run-start', 'step-start 1', 'step-done 1', 'step-start 2', 'step-done 2', 'step-start 3', 'step-done 3', 'run-end']);
    // run.json carries the plan (every undo), written in front of the first step in its round trip.
    const start = t.sent('bg_journal_start')[0]!;
    expect(start.seq).toBeLessThan(t.sent('run-step-1')[0]!.seq);
    expect(JSON.parse(start.stdin!)).toMatchObject({ version: 1, meta: { runId: RUN }, plan: { steps: [{ index: 1 }, { index: 2 }, { index: 3 }] } });
    // One round trip per step: the host runs the step whole (bg_step), journaling its start before
    // its first command and its outcome after the verify.
    expect(t.roundTrips).toHaveLength(3);
    expect(t.roundTrips[0]).toMatch(/^\{ bg_journal_start /);
    for (const [i, n] of [1, 2, 3].entries()) {
      expect(t.roundTrips[i]).toMatch(new RegExp(`^(.*\\n)?bg_step step /j/runs/${RUN} ${n} 1 [0-9a-f]{16} run 600000 run-step-${n} verify 600000 - verify-step-${n}$`, 's'));
      expect(t.sent(`"event":"step-start","step":${n}`)[0]!.seq).toBeLessThan(t.sent(`run-step-${n}`)[0]!.seq);
      expect(t.sent(`"event":"step-done","step":${n}`)[0]!.seq).toBeGreaterThan(t.sent(`verify-step-${n}`)[0]!.seq);
    }
    expect(events.at(-1)).toMatchObject({ type: 'run-end', outcome: 'done', exitCode: 0 });
  });

  it('a read-only step is neither journaled nor undone', async () => {
    const t = new ScriptedTransport().fail('run-step-3');
    const { outcome } = await run(plan([step(1), step(2, { mutates: false, undo: [] }), step(3)]), t);
    expect(outcome.exitCode).toBe(ExitCode.stepFailed);
    expect(journal(t)).not.toContain('step-start 2');
    expect(stepCommands(t).filter((c) => c.startsWith('undo'))).toEqual(['undo-step-3', 'undo-step-1']);
  });

  it('retries a verify probe by its policy and goes on once it passes', async () => {
    const retry: RetryPolicy = { attempts: 4, intervalMs: 5, factor: 2, maxIntervalMs: 20 };
    const t = new ScriptedTransport().on('verify-step-2', { exitCode: 1, stderr: 'not yet' }, { exitCode: 7, stderr: 'still not' }, {});
    const { outcome, events } = await run(plan([step(1), step(2, { verify: [{ cmd: 'verify-step-2', retry }] }), step(3)]), t);
    expect(outcome.exitCode).toBe(ExitCode.ok);
    expect(stepCommands(t)).toEqual(['run-step-1', 'verify-step-1', 'run-step-2', 'verify-step-2', 'verify-step-2', 'verify-step-2', 'run-step-3', 'verify-step-3']);
    const attempts = events.filter((e) => e.type === 'command' && e.step === 2 && e.phase === 'verify');
    expect(attempts.map((e) => [(e as { attempt: number }).attempt, (e as { exitCode: number }).exitCode])).toEqual([[1, 1], [2, 7], [3, 0]]);
  });

  it('a verify that never passes fails the step after its last attempt, naming it, and rolls back', async () => {
    const retry: RetryPolicy = { attempts: 3, intervalMs: 1, factor: 1, maxIntervalMs: 1 };
    const t = new ScriptedTransport().fail('verify-step-2', 1, 'the file is not there');
    const { outcome, events } = await run(plan([step(1), step(2, { verify: [{ cmd: 'verify-step-2', retry }] }), step(3)]), t);
    expect(outcome).toMatchObject({ status: 'rolled-back', exitCode: ExitCode.stepFailed, stepsDone: 1 });
    expect(t.sent('verify-step-2')).toHaveLength(3);
    expect(t.sent('run-step-3')).toHaveLength(0);
    expect(outcome.failure!.message).toMatch(/"step 2" failed on testhost: verify exited 1/);
    expect(outcome.failure!.message).toContain('the file is not there');
    expect(of(events, 'step-failed')).toEqual([2]);
  });

  it('a lost connection is not retried: the step fails at once', async () => {
    const retry: RetryPolicy = { attempts: 5, intervalMs: 1, factor: 1, maxIntervalMs: 1 };
    const t = new ScriptedTransport().on('verify-step-1', 'lose');
    const { outcome } = await run(plan([step(1, { verify: [{ cmd: 'verify-step-1', retry }] })]), t);
    expect(t.sent('verify-step-1')).toHaveLength(1);
    // The undo cannot reach the host either: a person must look (exit 4), step 1 is left.
    expect(outcome).toMatchObject({ status: 'rollback-incomplete', exitCode: ExitCode.rollbackIncomplete });
    expect(outcome.left.map((s) => s.index)).toEqual([1]);
  });
});

describe('executor: rollback', () => {
  it('undoes newest first, the failed step included, and undoLast steps after all others', async () => {
    const t = new ScriptedTransport().fail('run-step-5');
    const steps = [step(1), step(2, { undoLast: true }), step(3), step(4, { undoLast: true }), step(5)];
    const { outcome, events } = await run(plan(steps), t);
    expect(outcome).toMatchObject({ status: 'rolled-back', exitCode: ExitCode.stepFailed, left: [] });
    expect(stepCommands(t).filter((c) => c.startsWith('undo'))).toEqual(['undo-step-5', 'undo-step-3', 'undo-step-1', 'undo-step-4', 'undo-step-2']);
    expect(events.find((e) => e.type === 'rollback-start')).toMatchObject({ steps: [5, 3, 1, 4, 2] });
    expect(of(events, 'undo-done')).toEqual([5, 3, 1, 4, 2]);
    // Each undo is journaled before it runs and after it is done; the run ends "rolled back".
    const j = journal(t);
    for (const n of [5, 3, 1, 4, 2]) expect(j.indexOf(`undo-start ${n}`)).toBeLessThan(j.indexOf(`undone ${n}`));
    expect(t.commands.at(-1)!.command).toContain('"detail":"rolled back"');
  });

  it('an undo that fails stops the rollback: exit 4, that step and the older ones are left', async () => {
    const t = new ScriptedTransport().fail('run-step-4').fail('undo-step-3', 2, 'backup missing');
    const { outcome, events } = await run(plan([step(1), step(2), step(3), step(4)]), t);
    expect(outcome).toMatchObject({ status: 'rollback-incomplete', exitCode: ExitCode.rollbackIncomplete });
    expect(outcome.left.map((s) => s.index)).toEqual([3, 2, 1]);
    expect(outcome.undoFailure!.message).toContain('backup missing');
    expect(stepCommands(t).filter((c) => c.startsWith('undo'))).toEqual(['undo-step-4', 'undo-step-3']);
    expect(of(events, 'undo-failed')).toEqual([3]);
    expect(journal(t)).toContain('undo-failed 3');
    expect(t.commands.at(-1)!.command).toContain('"detail":"rollback incomplete"');
  });

  it('a changing step without an undo makes the rollback incomplete (exit 4), the others are undone', async () => {
    const t = new ScriptedTransport().fail('run-step-3');
    const { outcome, events } = await run(plan([step(1), step(2, { undo: [], undoNote: 'a restart cannot be taken back' }), step(3)]), t);
    expect(outcome).toMatchObject({ status: 'rollback-incomplete', exitCode: ExitCode.rollbackIncomplete });
    expect(outcome.left.map((s) => s.index)).toEqual([2]);
    expect(stepCommands(t).filter((c) => c.startsWith('undo'))).toEqual(['undo-step-3', 'undo-step-1']);
    expect(events.find((e) => e.type === 'undo-skipped')).toMatchObject({ step: 2, reason: 'a restart cannot be taken back' });
  });

  it('--no-rollback leaves the host as the failure left it: exit 1, nothing undone, the steps listed', async () => {
    const t = new ScriptedTransport().fail('run-step-2');
    const { outcome } = await run(plan([step(1), step(2)]), t, { noRollback: true });
    expect(outcome).toMatchObject({ status: 'failed-no-rollback', exitCode: ExitCode.stepFailed });
    expect(outcome.left.map((s) => s.index)).toEqual([2, 1]);
    expect(t.sent('undo-step')).toHaveLength(0);
    expect(t.commands.at(-1)!.command).toContain('"detail":"failed, not rolled back"');
  });
});

describe('executor: exit codes and the journal', () => {
  it('a journal that cannot be started: exit 1, no step sent, the message names host and journal', async () => {
    const t = new ScriptedTransport().fail('bg_journal_start', 1, 'No space left on device');
    const { outcome } = await run(plan([step(1), step(2)]), t);
    expect(outcome.exitCode).toBe(ExitCode.stepFailed);
    expect(outcome.stepsDone).toBe(0);
    expect(outcome.failure!.message).toBe(`cannot write the journal on testhost (${JOURNAL}): No space left on device`);
    expect(stepCommands(t)).toEqual([]);
  });

  it("a step whose journal line cannot be written fails before its command ran, and what ran is undone", async () => {
    // The step-start line and the command travel together; a failed write means the command was not run.
    const t = new ScriptedTransport().fail('"event":"step-start","step":2', 1, 'log: Read-only file system');
    const { outcome } = await run(plan([step(1), step(2), step(3)]), t);
    expect(outcome).toMatchObject({ status: 'rolled-back', exitCode: ExitCode.stepFailed, stepsDone: 1 });
    expect(outcome.failure!.message).toContain('Read-only file system');
    expect(t.sent('run-step-3')).toHaveLength(0);
    expect(t.sent('undo-step-1')).toHaveLength(1);
  });

  it('an undo whose journal line cannot be written is not run: exit 4', async () => {
    const t = new ScriptedTransport().fail('run-step-2').fail('"event":"undo-start","step":1', 1, 'disk full');
    const { outcome } = await run(plan([step(1), step(2)]), t);
    expect(outcome.exitCode).toBe(ExitCode.rollbackIncomplete);
    expect(outcome.left.map((s) => s.index)).toEqual([1]);
    expect(t.sent('undo-step-1')).toHaveLength(0);
  });

  it('an exception bg did not expect before any step is an internal error (70), never 0 or 1', async () => {
    const t = new RecordingTransport('testhost', (cmd) => {
      if (cmd.includes('check-tools')) throw new TypeError('cannot read properties of undefined');
      return {};
    });
    const { outcome, events } = await run(plan([step(1)], { preflight: [{ cmd: 'check-tools', label: 'tools are there' }] }), t);
    expect(outcome.exitCode).toBe(ExitCode.internal);
    expect(outcome.failure!.message).toContain('cannot read properties of undefined');
    expect(events.at(-1)).toMatchObject({ type: 'run-end', exitCode: ExitCode.internal });
  });

  it('a failed pre-flight check changes nothing: exit 1, no journal, no step', async () => {
    const t = new ScriptedTransport().fail('check-db', 1, 'bg: database not found');
    const { outcome, events } = await run(plan([step(1)], { preflight: [{ cmd: 'check-db', label: 'the database is there' }] }), t);
    expect(outcome).toMatchObject({ status: 'preflight-failed', exitCode: ExitCode.stepFailed });
    expect(outcome.failure!.message).toContain('the database is there');
    expect(events.find((e) => e.type === 'check')).toMatchObject({ ok: false, label: 'the database is there' });
    // Every check in one round trip.
    expect(t.roundTrips).toHaveLength(1);
    expect(t.roundTrips[0]).toMatch(/^bg_step checks - 0 0 /);
    expect(t.sent('bg_journal_start')).toHaveLength(0);
    expect(stepCommands(t)).toEqual([]);
  });
});

describe('executor: interrupts (AbortSignal)', () => {
  it('interrupted before the first step: nothing is sent, journaled or undone', async () => {
    const ac = new AbortController();
    ac.abort();
    const t = new ScriptedTransport();
    const { outcome } = await run(plan([step(1), step(2)]), t, { signal: ac.signal });
    expect(outcome.exitCode).toBe(ExitCode.stepFailed);
    expect(outcome.failure!.message).toMatch(/interrupted before the first step on testhost: nothing was changed/);
    expect(t.sent('bg_journal_start')).toHaveLength(0);
    expect(stepCommands(t)).toEqual([]);
    expect(journal(t).filter((e) => e !== 'run-end')).toEqual([]);
  });

  it('interrupted during a step: that command is stopped, no later step begins, what began is undone', async () => {
    const ac = new AbortController();
    const t = new ScriptedTransport().on('run-step-2', 'hang');
    setTimeout(() => ac.abort(), 30);
    const { outcome, events } = await run(plan([step(1), step(2), step(3)]), t, { signal: ac.signal });
    expect(outcome).toMatchObject({ status: 'rolled-back', exitCode: ExitCode.stepFailed, stepsDone: 1 });
    expect(t.sent('run-step-2')[0]!.aborted).toBe(true);
    expect(t.sent('run-step-3')).toHaveLength(0);
    expect(of(events, 'step-start')).toEqual([1, 2]);
    // The rollback is not cancelled by the interrupt that caused it.
    expect(stepCommands(t).filter((c) => c.startsWith('undo'))).toEqual(['undo-step-2', 'undo-step-1']);
    for (const c of t.sent('undo-step')) expect(c.aborted).toBe(false);
  });

  it('interrupted while a verify waits to retry: no further attempt is sent', async () => {
    const ac = new AbortController();
    const retry: RetryPolicy = { attempts: 50, intervalMs: 20, factor: 1, maxIntervalMs: 20 };
    const t = new ScriptedTransport().fail('verify-step-1', 1, 'not up');
    setTimeout(() => ac.abort(), 70);
    const { outcome } = await run(plan([step(1, { verify: [{ cmd: 'verify-step-1', retry }] }), step(2)]), t, { signal: ac.signal });
    expect(outcome.exitCode).toBe(ExitCode.stepFailed);
    expect(t.sent('verify-step-1').length).toBeLessThan(10);
    expect(t.sent('run-step-2')).toHaveLength(0);
    expect(t.sent('undo-step-1')).toHaveLength(1);
  });
});
