// The host-side step runner (bg_step, src/remote/step.sh) through a real dash and bash, as a host
// runs it: the invocation built by stepInvocation, events parsed by parseStepEvent. One round
// trip runs capture, run and verify with retries, journals start and outcome, bounds each command
// on the host, stops on INT, and finishes and journals the step when its stdout goes away (the
// SSH connection dropped).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stepInvocation, type StepEntry } from '../../src/remote/assemble.js';
import { parseStepEvent, type StepEvent } from '../../src/run/step-events.js';
import { retryDelays } from '../../src/run/step-runner.js';
import { libraryFile } from './actions-helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'bg-step-sh-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const NONCE = '0123456789abcdef';
let n = 0;

function invocation(entries: StepEntry[], o: { journal?: boolean; mode?: 'step' | 'undo' } = {}) {
  const dir = join(tmp, `run${++n}`);
  spawnSync('mkdir', ['-p', dir]);
  const cmd = stepInvocation({ mode: o.mode ?? 'step', runDir: dir, step: 4, journal: o.journal ?? true, nonce: NONCE, entries });
  return { dir, cmd };
}

/** Run in its own session (as sshd does), with the library sourced. */
function runSh(shell: string, cmd: string) {
  const r = spawnSync('setsid', [shell, '-c', `. '${libraryFile()}'; ${cmd}`], { encoding: 'utf8', cwd: tmp, timeout: 30_000 });
  const events = r.stdout.split('\n').map((l) => parseStepEvent(l, NONCE)).filter((e): e is StepEvent => !!e);
  return { code: r.status, events, stdout: r.stdout, stderr: r.stderr };
}

const journal = (dir: string) =>
  existsSync(join(dir, 'log'))
    ? readFileSync(join(dir, 'log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string; step: number; detail?: string })
    : [];

describe.each(['dash', 'bash'])('bg_step through %s', (shell) => {
  it('runs capture, run, verify in order in one invocation; journals start before and done after', () => {
    const { dir, cmd } = invocation([
      { phase: 'capture', timeoutMs: 5000, cmd: `echo captured > ${join(tmp, 'cap')}` },
      { phase: 'run', timeoutMs: 5000, cmd: 'echo out; echo err >&2' },
      { phase: 'verify', timeoutMs: 5000, cmd: 'test -s log' },
    ]);
    const r = runSh(shell, `cd '${dir}' && ${cmd}`);
    expect(r.code).toBe(0);
    expect(r.events.map((e) => e.kind)).toEqual(['start', 'cmd', 'cmd', 'cmd', 'end']);
    expect(r.events[2]).toMatchObject({ kind: 'cmd', phase: 'run', n: 2, attempt: 1, exitCode: 0, how: 'exit', stdout: 'out\n', stderr: 'err\n' });
    expect(r.events.at(-1)).toMatchObject({ kind: 'end', ok: true });
    expect(journal(dir).map((e) => [e.event, e.step])).toEqual([['step-start', 4], ['step-done', 4]]);
    // The process record for bg unlock / bg rollback: "PID STARTTIME".
    expect(readFileSync(join(dir, 'sessions'), 'utf8')).toMatch(/^\d+ \d+\n$/);
  });

  it("a command's output can never pass for an event: it travels encoded", () => {
    const forged = `${NONCE} end ok - 0 0 exit`;
    const { cmd } = invocation([{ phase: 'run', timeoutMs: 5000, cmd: `printf '%s\\n' '${forged}'; printf '\\033[2J\\n'; exit 3` }]);
    const r = runSh(shell, cmd);
    expect(r.events.filter((e) => e.kind === 'end')).toEqual([{ kind: 'end', ok: false, phase: 'run', n: 1, exitCode: 3, how: 'exit' }]);
    expect(r.events[1]).toMatchObject({ kind: 'cmd', stdout: `${forged}\n\u001b[2J\n` });
  });

  it('retries a verify by the waits it is given, and journals the failure after the last attempt', () => {
    const delays = retryDelays({ attempts: 3, intervalMs: 50, factor: 2, maxIntervalMs: 80 });
    expect(delays).toEqual([50, 80]);
    const { dir, cmd } = invocation([{ phase: 'verify', timeoutMs: 5000, delaysMs: delays, cmd: 'echo "not yet" >&2; exit 7' }]);
    const r = runSh(shell, cmd);
    expect(r.code).toBe(1);
    expect(r.events.filter((e) => e.kind === 'cmd').map((e) => (e as { attempt: number }).attempt)).toEqual([1, 2, 3]);
    expect(r.events.filter((e) => e.kind === 'wait').map((e) => (e as { delayMs: number }).delayMs)).toEqual([50, 80]);
    expect(journal(dir).map((e) => e.event)).toEqual(['step-start', 'step-failed']);
    expect(journal(dir)[1]!.detail).toBe('verify command 1: exit 7 after 3 attempt(s)');
  });

  it('a read-only step journals no start, and a failure stops the step at that command', () => {
    const { dir, cmd } = invocation(
      [
        { phase: 'run', timeoutMs: 5000, cmd: 'exit 2' },
        { phase: 'run', timeoutMs: 5000, cmd: `touch '${join(tmp, 'never')}'` },
      ],
      { journal: false },
    );
    const r = runSh(shell, cmd);
    expect(r.events.filter((e) => e.kind === 'cmd')).toHaveLength(1);
    expect(existsSync(join(tmp, 'never'))).toBe(false);
    expect(journal(dir).map((e) => e.event)).toEqual(['step-failed']);
  });

  it('bounds each command on the host: the whole process group gets TERM, the step fails as timed out', () => {
    const { dir, cmd } = invocation([{ phase: 'run', timeoutMs: 300, cmd: 'sleep 20 | cat; echo after' }]);
    const t0 = Date.now();
    const r = runSh(shell, cmd);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.events.find((e) => e.kind === 'end')).toMatchObject({ ok: false, how: 'timeout' });
    expect(journal(dir).at(-1)!.detail).toMatch(/^run command 1: timeout \d+ after 1 attempt/);
  });

  it('pre-flight (checks mode): every check runs, also after one failed; nothing journaled, no run directory needed', () => {
    const cmd = stepInvocation({
      mode: 'checks',
      runDir: '-',
      step: 0,
      journal: false,
      nonce: NONCE,
      entries: [
        { phase: 'check', timeoutMs: 5000, cmd: 'echo "bg: database not found" >&2; exit 1' },
        { phase: 'check', timeoutMs: 5000, cmd: 'echo sqlite3 3.40.1' },
        { phase: 'check', timeoutMs: 5000, cmd: 'exit 4' },
      ],
    });
    expect(cmd).toMatch(/^bg_step checks - 0 0 /);
    const r = runSh(shell, cmd);
    expect(r.code).toBe(1);
    const cmds = r.events.filter((e): e is Extract<StepEvent, { kind: 'cmd' }> => e.kind === 'cmd');
    expect(cmds.map((e) => [e.n, e.exitCode])).toEqual([[1, 1], [2, 0], [3, 4]]);
    expect(cmds[0]!.stderr).toBe('bg: database not found\n');
    expect(r.events.at(-1)).toMatchObject({ kind: 'end', ok: false, exitCode: 2 });
  });

  it('pre-flight checks run at once (read-only), their events still in order', () => {
    const entries = [1, 2, 3].map((i) => ({ phase: 'check' as const, timeoutMs: 5000, cmd: `sleep 0.6; echo ${i}` }));
    const t0 = Date.now();
    const r = runSh(shell, stepInvocation({ mode: 'checks', runDir: '-', step: 0, journal: false, nonce: NONCE, entries }));
    expect(Date.now() - t0).toBeLessThan(1700);
    expect(r.events.filter((e): e is Extract<StepEvent, { kind: 'cmd' }> => e.kind === 'cmd').map((e) => [e.n, e.stdout])).toEqual([[1, '1\n'], [2, '2\n'], [3, '3\n']]);
    expect(r.events.at(-1)).toMatchObject({ kind: 'end', ok: true });
  });

  it('an undo journals undo-start before and undone after', () => {
    const { dir, cmd } = invocation([{ phase: 'undo', timeoutMs: 5000, cmd: 'true' }], { mode: 'undo' });
    expect(runSh(shell, cmd).code).toBe(0);
    expect(journal(dir).map((e) => e.event)).toEqual(['undo-start', 'undone']);
  });

  it('a journal that cannot be written, or a run directory that is gone, runs nothing', () => {
    const { dir, cmd } = invocation([{ phase: 'run', timeoutMs: 5000, cmd: `touch '${join(tmp, 'nojournal')}'` }]);
    mkdirSync(join(dir, 'log'));
    expect(runSh(shell, cmd).events.at(-1)).toMatchObject({ kind: 'end', ok: false, phase: 'journal', how: 'nojournal' });
    const gone = invocation([{ phase: 'run', timeoutMs: 5000, cmd: `touch '${join(tmp, 'nojournal')}'` }]);
    rmSync(gone.dir, { recursive: true });
    expect(runSh(shell, gone.cmd).events.at(-1)).toMatchObject({ kind: 'end', ok: false, phase: 'journal', how: 'nodir' });
    expect(existsSync(gone.dir)).toBe(false);
    expect(existsSync(join(tmp, 'nojournal'))).toBe(false);
  });
});

describe('bg_step when bg goes away', () => {
  it('INT to the process group (Ctrl-C) stops the running command and the step ends failed, journaled', async () => {
    const { dir, cmd } = invocation([
      { phase: 'run', timeoutMs: 20_000, cmd: 'sleep 20' },
      { phase: 'run', timeoutMs: 5000, cmd: `touch '${join(tmp, 'after-int')}'` },
    ]);
    const child = spawn('sh', ['-c', `. '${libraryFile()}'; ${cmd}`], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    await until(() => out.includes(' start '));
    await new Promise((r) => setTimeout(r, 200));
    process.kill(-child.pid!, 'SIGINT');
    const code = await new Promise<number | null>((r) => child.on('close', r));
    expect(code).toBe(1);
    expect(existsSync(join(tmp, 'after-int'))).toBe(false);
    expect(journal(dir).at(-1)).toMatchObject({ event: 'step-failed' });
    expect(journal(dir).at(-1)!.detail).toMatch(/^run command 1: INT /);
  });

  it('its stdout closed mid-step (the connection dropped): the step runs to its end and journals it', async () => {
    const marker = join(tmp, 'finished-without-bg');
    const { dir, cmd } = invocation([
      { phase: 'run', timeoutMs: 5000, cmd: 'sleep 0.5; echo lots of output' },
      { phase: 'run', timeoutMs: 5000, cmd: `touch '${marker}'` },
      { phase: 'verify', timeoutMs: 5000, cmd: `test -e '${marker}'` },
    ]);
    const child = spawn('sh', ['-c', `. '${libraryFile()}'; ${cmd}`], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((r) => child.stdout.once('data', () => r()));
    // The reader goes away: every later write of the runner meets a closed pipe.
    child.stdout.destroy();
    child.stderr.destroy();
    await until(() => journal(dir).some((e) => e.event === 'step-done'), 10_000);
    expect(existsSync(marker)).toBe(true);
    expect(journal(dir).map((e) => e.event)).toEqual(['step-start', 'step-done']);
  });
});

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}
