// The journal and the host lock without a host: what they send, and what they make of the answers
// (scripted fake transport). One property runs the journal's own shell in a real `sh` (local
// transport, a temp dir) to check that any detail text comes back as data.
import fc from 'fast-check';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BgError, ExitCode, LockedError } from '../../src/errors.js';
import type { Plan } from '../../src/plan/types.js';
import { Journal } from '../../src/run/journal.js';
import { HostLock, readLockCommand, removeLockCommand, takeLockCommand } from '../../src/run/lock.js';
import type { RunMeta } from '../../src/run/run-meta.js';
import { LocalTransport } from '../../src/transport/local.js';
import { withLibrary } from '../../src/remote/install.js';
import { ScriptedTransport } from '../harness/scripted-transport.js';
import { RecordingTransport } from '../harness/recording-transport.js';
import { libraryFile } from './actions-helpers.js';

const meta = (runId: string): RunMeta => ({ runId, playbook: 'unit', command: 'bg run unit', user: 'tester', machine: 'ci', pid: 42, startedAt: '2026-01-01T00:00:00.000Z' });
const plan = (journalDir: string): Plan => ({
  version: 1,
  runId: 'R1',
  playbook: { name: 'unit', file: 'unit.yaml' },
  host: { name: 'testhost', transport: 'ssh', target: 'u@h:22' },
  journalDir,
  vars: {},
  preflight: [],
  gates: [],
  secrets: {},
  steps: [],
});

describe('journal', () => {
  it('writes run.json and run-start in one round trip; buffered events ride along with the next durable one', async () => {
    const t = new ScriptedTransport();
    const j = new Journal(t, '/j/runs/R1');
    await j.start(plan('/j/runs/R1'), meta('R1'));
    expect(t.commands).toHaveLength(1);
    expect(t.commands[0]!.command).toContain('"event":"run-start"');
    expect(JSON.parse(t.commands[0]!.stdin!)).toMatchObject({ version: 1, meta: { runId: 'R1' } });
    await j.record('step-done', 1); // not durable: nothing sent yet
    expect(t.commands).toHaveLength(1);
    await j.record('step-failed', 2, 'boom');
    expect(t.commands).toHaveLength(2);
    const second = t.commands[1]!.command;
    expect(second.indexOf('"event":"step-done","step":1')).toBeLessThan(second.indexOf('"event":"step-failed","step":2'));
    // One call of the library's journal writer (src/remote/journal.sh), which fsyncs the log.
    expect(second).toMatch(/^bg_journal_append '?\/j\/runs\/R1\/log'? /);
  });

  it('a write the host refuses is an error naming host and journal (exit 1)', async () => {
    const t = new ScriptedTransport().fail('/log', 1, 'No space left on device');
    const j = new Journal(t, '/j/runs/R1');
    const err = await j.record('run-end', undefined, 'done').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BgError);
    expect((err as BgError).exitCode).toBe(ExitCode.stepFailed);
    expect((err as BgError).message).toBe('cannot write the journal on testhost (/j/runs/R1): No space left on device');
  });

  describe('against a real sh', () => {
    const root = mkdtempSync(join(tmpdir(), 'bg-journal-unit-'));
    afterAll(() => rmSync(root, { recursive: true, force: true }));
    let n = 0;

    it('any detail text, and a journal path with quotes and spaces, come back as data', async () => {
      await fc.assert(
        fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 60 }), async (detail) => {
          const dir = join(root, `run ${n++} 'q' $(x)`, 'runs', 'R1');
          const local = withLibrary(new LocalTransport('local'), join(root, 'journal-of-the-library'));
          const j = new Journal(local, dir);
          await j.start(plan(dir), meta('R1'));
          await j.record('step-failed', 1, detail);
          const lines = readFileSync(join(dir, 'log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
          expect(lines.map((l) => l.event)).toEqual(['run-start', 'step-failed']);
          expect(lines[1]!.detail).toBe(detail);
          expect(JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')).meta.runId).toBe('R1');
        }),
        { numRuns: 25 },
      );
    });
  });
});

describe('host lock', () => {
  it("runs `then` (a run's pre-flight) right after the take, in the same round trip; taken whatever `then` ends with", async () => {
    const t = new RecordingTransport('testhost', (cmd) => {
      const marker = /bg-lock-taken-[0-9a-f]+/.exec(cmd)?.[0];
      return marker ? { exitCode: 1, stdout: `${marker}\nNONCE cmd check 1 1 1 0 exit  \n` } : {};
    });
    const lock = new HostLock(t, '/j', meta('R1'));
    const r = await lock.acquire(0, undefined, { cmd: 'bg_step checks - 0 0 NONCE check 1000 false', timeoutMs: 1000 });
    expect(t.commands).toHaveLength(1);
    expect(t.commands[0]!.command).toMatch(/^bg_lock_take .* \|\| exit \$\?\nprintf '%s\\n' bg-lock-taken-[0-9a-f]{16}\nbg_step checks /);
    expect(r?.stdout).toContain('NONCE cmd check');
    // Held: the release (with the run's last journal line in front) removes it.
    expect(await lock.release('bg_journal_append /j/runs/R1/log x')).toBeUndefined();
    expect(t.commands[1]!.command).toMatch(/^bg_journal_append \/j\/runs\/R1\/log x\nbg_lock_remove /);
  });

  it('`then` does not run while another run holds the lock: exit 3 naming the holder', async () => {
    const t = new ScriptedTransport().on('bg_lock_take', { exitCode: 3, stdout: JSON.stringify(meta('20260101T000000.000Z-beef')) + '\n' });
    const err = await new HostLock(t, '/j', meta('R1')).acquire(0, undefined, { cmd: 'never-run', timeoutMs: 1000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockedError);
  });

  const other = '20260101T000000.000Z-beef';
  const holder = JSON.stringify(meta(other)) + '\n';

  it('takes a free lock with its holder info on stdin, and releases only its own', async () => {
    const t = new ScriptedTransport();
    const lock = new HostLock(t, "/srv/bg journal/it's", meta('R1'));
    await lock.acquire();
    expect(t.commands).toHaveLength(1);
    expect(JSON.parse(t.commands[0]!.stdin!)).toMatchObject({ runId: 'R1', pid: 42 });
    expect(t.commands[0]!.command).toBe(`bg_lock_take '/srv/bg journal/it'\\''s/lock' info.json`);
    expect(await lock.release()).toBeUndefined();
    expect(t.commands[1]!.command).toBe(`bg_lock_remove '/srv/bg journal/it'\\''s/lock' info.json R1`);
    // Released once: a second release sends nothing.
    expect(await lock.release()).toBeUndefined();
    expect(t.commands).toHaveLength(2);
  });

  it('held by another run: exit 3 at once, naming the holder and how to go on', async () => {
    const t = new ScriptedTransport().on('bg_lock_take', { exitCode: 3, stdout: holder });
    const err = await new HostLock(t, '/j', meta('R1')).acquire(0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockedError);
    expect((err as LockedError).exitCode).toBe(ExitCode.locked);
    expect((err as LockedError).message).toMatch(/^testhost is locked by another run: run 20260101T000000\.000Z-beef \(bg run unit\) by tester@ci pid 42/);
    expect((err as LockedError).message).toContain('bg unlock --host testhost');
    expect(t.commands).toHaveLength(1);
  });

  it('waits with --lock-wait and takes the lock once the other run releases it', async () => {
    const t = new ScriptedTransport().on('bg_lock_take', { exitCode: 3, stdout: holder }, {});
    const lock = new HostLock(t, '/j', meta('R1'));
    await lock.acquire(5);
    expect(t.commands).toHaveLength(2);
  });

  it('a lock without readable info still names the problem instead of "run ?"', async () => {
    const t = new ScriptedTransport().on('bg_lock_take', { exitCode: 3, stdout: '' });
    const err = await new HostLock(t, '/j', meta('R1')).acquire(0).catch((e: unknown) => e);
    expect((err as Error).message).toContain('an unknown run (the lock has no info.json');
  });

  it('Ctrl-C while waiting stops the wait at once: exit 3, nothing ran', async () => {
    const t = new ScriptedTransport().on('bg_lock_take', { exitCode: 3, stdout: holder });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const started = Date.now();
    const err = await new HostLock(t, '/j', meta('R1')).acquire(60, ac.signal).catch((e: unknown) => e);
    expect((err as BgError).exitCode).toBe(ExitCode.locked);
    expect((err as BgError).message).toBe('interrupted while waiting for the lock on testhost: nothing ran');
    expect(Date.now() - started).toBeLessThan(10_000); // not the 60 s wait
  });

  it('a host that cannot create the lock is a failure (exit 1), not "locked"', async () => {
    const t = new ScriptedTransport().on('bg_lock_take', { exitCode: 1, stderr: "bg: cannot write the lock's info (disk full?)" });
    const err = await new HostLock(t, '/j', meta('R1')).acquire(0).catch((e: unknown) => e);
    expect((err as BgError).exitCode).toBe(ExitCode.stepFailed);
    expect((err as BgError).message).toContain('cannot take the lock on testhost (/j/lock)');
  });

  it('release never throws: a lost connection is returned as the reason the lock is left', async () => {
    const t = new ScriptedTransport();
    const lock = new HostLock(t, '/j', meta('R1'));
    await lock.acquire();
    await t.close();
    expect(await lock.release()).toMatch(/closed/);
  });
});

describe('the lock calls (bg_lock_* in src/remote/lock.sh)', () => {
  it('are short calls with the lock directory and run id as quoted words', () => {
    expect(takeLockCommand("/srv/bg journal/it's/lock")).toBe(`bg_lock_take '/srv/bg journal/it'\\''s/lock' info.json`);
    expect(readLockCommand('~/.bg/lock')).toBe('bg_lock_read "$HOME"/.bg/lock info.json');
    expect(removeLockCommand('-j/lock')).toBe('bg_lock_remove ./-j/lock info.json');
    expect(removeLockCommand('/j/lock', "R1'; rm -rf /")).toBe(`bg_lock_remove /j/lock info.json 'R1'\\''; rm -rf /'`);
  });

  describe('through dash', () => {
    const root = mkdtempSync(join(tmpdir(), 'bg-lock-sh-'));
    afterAll(() => rmSync(root, { recursive: true, force: true }));
    const dash = (cmd: string, stdin?: string) => {
      const r = spawnSync('dash', ['-c', `. '${libraryFile()}'; ${cmd}`], { encoding: 'utf8', input: stdin, cwd: root });
      return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    };
    const info = (runId: string) => JSON.stringify(meta(runId)) + '\n';

    it('take, held (exit 3 with the holder), read, remove only by its run: with any journal path (property)', () => {
      let n = 0;
      fc.assert(
        fc.property(fc.string({ minLength: 1, maxLength: 30 }).filter((s) => !s.includes('\0') && !s.includes('/') && s !== '.' && s !== '..'), (name) => {
          const journal = join(root, `p${n++}`, name);
          const lock = join(journal, 'lock');
          expect(dash(takeLockCommand(lock), info('R1'))).toMatchObject({ code: 0, stdout: '' });
          expect(JSON.parse(readFileSync(join(lock, 'info.json'), 'utf8')).runId).toBe('R1');
          expect(dash(takeLockCommand(lock), info('R2'))).toMatchObject({ code: 3, stdout: info('R1') });
          expect(dash(readLockCommand(lock))).toMatchObject({ code: 0, stdout: info('R1') });
          expect(dash(removeLockCommand(lock, 'R2')).code).toBe(3);
          expect(existsSync(lock)).toBe(true);
          expect(dash(removeLockCommand(lock, 'R1')).code).toBe(0);
          expect(existsSync(lock)).toBe(false);
          expect(dash(readLockCommand(lock)).code).toBe(1);
          // Nothing left beside it: no temporary or renamed-away directory.
          expect(readdirSync(journal)).toEqual([]);
        }),
        { numRuns: 25 },
      );
    });

    it('a lock path starting with - and a run id holding shell syntax are data', () => {
      const lock = join('-odd', "l'$(touch PWNED)", 'lock');
      expect(dash(takeLockCommand(lock), info('$(touch PWNED)')).code).toBe(0);
      expect(existsSync(join(root, lock, 'info.json'))).toBe(true);
      expect(dash(removeLockCommand(lock, '$(touch PWNED)')).code).toBe(0);
      expect(existsSync(join(root, lock))).toBe(false);
      expect(existsSync(join(root, 'PWNED'))).toBe(false);
    });

    it('an empty lock left by an older bg is replaced; a lock without info is held, printing nothing', () => {
      const lock = join(root, 'older', 'lock');
      mkdirSync(lock, { recursive: true });
      expect(dash(takeLockCommand(lock), info('R1')).code).toBe(0);
      rmSync(join(lock, 'info.json'));
      mkdirSync(join(lock, 'other'));
      expect(dash(takeLockCommand(lock), info('R2'))).toMatchObject({ code: 3, stdout: '\n' });
      expect(dash(readLockCommand(lock))).toMatchObject({ code: 0, stdout: '' });
      // Without a run id bg unlock removes it whatever it holds.
      expect(dash(removeLockCommand(lock)).code).toBe(0);
      expect(existsSync(lock)).toBe(false);
      expect(dash(removeLockCommand(lock)).code).toBe(0);
    });

    it('is atomic: of eight takes at once exactly one wins, the others see it held', async () => {
      const lock = join(root, 'race', 'lock');
      const take = (i: number) =>
        new Promise<number>((resolve) => {
          const p = spawn('dash', ['-c', `. '${libraryFile()}'; ${takeLockCommand(lock)}`], { stdio: ['pipe', 'ignore', 'ignore'] });
          p.on('close', (code) => resolve(code ?? -1));
          p.stdin.end(info(`R${i}`));
        });
      const codes = await Promise.all([...Array(8).keys()].map(take));
      expect(codes.filter((c) => c === 0)).toHaveLength(1);
      expect(codes.filter((c) => c === 3)).toHaveLength(7);
      const winner = codes.indexOf(0);
      expect(JSON.parse(readFileSync(join(lock, 'info.json'), 'utf8')).runId).toBe(`R${winner}`);
      expect(readdirSync(join(root, 'race'))).toEqual(['lock']);
    });
  });
});
