// The journal and the host lock without a host: what they send, and what they make of the answers
// (scripted fake transport). One property runs the journal's own shell in a real `sh` (local
// transport, a temp dir) to check that any detail text comes back as data.
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BgError, ExitCode, LockedError } from '../../src/errors.js';
import type { Plan } from '../../src/plan/types.js';
import { Journal } from '../../src/run/journal.js';
import { HostLock } from '../../src/run/lock.js';
import type { RunMeta } from '../../src/run/run-meta.js';
import { LocalTransport } from '../../src/transport/local.js';
import { withLibrary } from '../../src/remote/install.js';
import { ScriptedTransport } from '../harness/scripted-transport.js';

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
  const other = '20260101T000000.000Z-beef';
  const holder = JSON.stringify(meta(other)) + '\n';

  it('takes a free lock with its holder info on stdin, and releases only its own', async () => {
    const t = new ScriptedTransport();
    const lock = new HostLock(t, "/srv/bg journal/it's", meta('R1'));
    await lock.acquire();
    expect(t.commands).toHaveLength(1);
    expect(JSON.parse(t.commands[0]!.stdin!)).toMatchObject({ runId: 'R1', pid: 42 });
    expect(t.commands[0]!.command).toContain(`d='/srv/bg journal/it'\\''s/lock'`);
    expect(await lock.release()).toBeUndefined();
    expect(t.commands[1]!.command).toContain(`grep -qF '"runId":"R1"'`);
    // Released once: a second release sends nothing.
    expect(await lock.release()).toBeUndefined();
    expect(t.commands).toHaveLength(2);
  });

  it('held by another run: exit 3 at once, naming the holder and how to go on', async () => {
    const t = new ScriptedTransport().on('mv -T', { exitCode: 3, stdout: holder });
    const err = await new HostLock(t, '/j', meta('R1')).acquire(0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockedError);
    expect((err as LockedError).exitCode).toBe(ExitCode.locked);
    expect((err as LockedError).message).toMatch(/^testhost is locked by another run: run 20260101T000000\.000Z-beef \(bg run unit\) by tester@ci pid 42/);
    expect((err as LockedError).message).toContain('bg unlock --host testhost');
    expect(t.commands).toHaveLength(1);
  });

  it('waits with --lock-wait and takes the lock once the other run releases it', async () => {
    const t = new ScriptedTransport().on('mv -T', { exitCode: 3, stdout: holder }, {});
    const lock = new HostLock(t, '/j', meta('R1'));
    await lock.acquire(5);
    expect(t.commands).toHaveLength(2);
  });

  it('a lock without readable info still names the problem instead of "run ?"', async () => {
    const t = new ScriptedTransport().on('mv -T', { exitCode: 3, stdout: '' });
    const err = await new HostLock(t, '/j', meta('R1')).acquire(0).catch((e: unknown) => e);
    expect((err as Error).message).toContain('an unknown run (the lock has no info.json');
  });

  it('Ctrl-C while waiting stops the wait at once: exit 3, nothing ran', async () => {
    const t = new ScriptedTransport().on('mv -T', { exitCode: 3, stdout: holder });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const started = Date.now();
    const err = await new HostLock(t, '/j', meta('R1')).acquire(60, ac.signal).catch((e: unknown) => e);
    expect((err as BgError).exitCode).toBe(ExitCode.locked);
    expect((err as BgError).message).toBe('interrupted while waiting for the lock on testhost: nothing ran');
    expect(Date.now() - started).toBeLessThan(10_000); // not the 60 s wait
  });

  it('a host that cannot create the lock is a failure (exit 1), not "locked"', async () => {
    const t = new ScriptedTransport().on('mv -T', { exitCode: 1, stderr: "bg: cannot write the lock's info (disk full?)" });
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
