import { LockedError, BgError, ExitCode } from '../errors.js';
import { quotePath, shellQuote } from '../plan/quote.js';
import { call } from '../plan/sh-lib.js';
import { randomBytes } from 'node:crypto';
import type { CommandResult, Transport } from '../transport/transport.js';
import { describeHolder, type RunMeta } from './run-meta.js';
import { parseMeta } from './journal-schema.js';
import { LOCK_FILES, lockDir } from './journal-layout.js';

const INFO = LOCK_FILES.info;

/** Exit codes of bg_lock_take (another run holds the lock) and bg_lock_remove with a run id (the lock is not that run's). */
const HELD = 3;
const NOT_OURS = 3;

/**
 * One run at a time per host: the lock is the directory JOURNAL/lock, with info.json inside saying
 * who holds it. It comes into being whole or not at all: the info is written (and fsynced) into a
 * private directory first, which is then renamed to `lock` (rename is atomic, and fails when
 * `lock` exists with something in it). A full disk or a crash while writing the info therefore
 * leaves no empty lock that would keep the host locked until --force.
 * Released on every exit path by the caller's finally.
 */
export class HostLock {
  private held = false;
  private readonly dir: string;

  constructor(
    private readonly transport: Transport,
    journalDir: string,
    private readonly meta: RunMeta,
  ) {
    this.dir = lockDir(journalDir);
  }

  /**
   * Take the lock, polling up to `waitSeconds` while another run holds it; else LockedError (exit 3).
   * An abort (Ctrl-C, SIGTERM) stops the wait with exit 3 too: nothing ran. The take itself is never
   * cancelled halfway (that could leave a lock nobody knows it holds); an abort that arrives during
   * it is seen by the caller right after, which then releases.
   */
  async acquire(waitSeconds = 0, signal?: AbortSignal, then?: { cmd: string; timeoutMs: number }): Promise<CommandResult | undefined> {
    const deadline = Date.now() + waitSeconds * 1000;
    // `then` runs right after the take, in the same round trip (a run's pre-flight checks): a
    // marker on stdout says the lock was taken, whatever `then` ends with.
    const marker = then && `bg-lock-taken-${randomBytes(8).toString('hex')}`;
    const cmd = then ? `${takeLockCommand(this.dir)} || exit $?\nprintf '%s\\n' ${marker}\n${then.cmd}` : takeLockCommand(this.dir);
    for (;;) {
      if (signal?.aborted) throw new BgError(`interrupted while waiting for the lock on ${this.transport.host}: nothing ran`, ExitCode.locked);
      const r = await this.transport.exec(cmd, { stdin: JSON.stringify(this.meta) + '\n', timeoutMs: 60_000 + (then?.timeoutMs ?? 0), framed: !!then });
      if (marker ? r.stdout.split('\n').includes(marker) : r.exitCode === 0) {
        this.held = true;
        return then ? r : undefined;
      }
      if (r.exitCode !== HELD) throw new BgError(`cannot take the lock on ${this.transport.host} (${this.dir}): ${r.stderr.trim() || `exit ${r.exitCode}`}`, ExitCode.stepFailed);
      if (Date.now() >= deadline) throw new LockedError(this.transport.host, `${describeHolder(parseInfo(r.stdout))}\n(wait with --lock-wait SECONDS; if that run is gone: bg unlock --host ${this.transport.host})`);
      await pause(Math.min(1000, Math.max(0, deadline - Date.now())), signal);
    }
  }

  /**
   * Remove the lock if it is still ours, after `before` (a command sent in the same round trip). Never throws: it runs on every exit path, where it must not
   * hide the outcome. Returns why the lock is left, if it is (e.g. the connection is gone).
   */
  async release(before?: string): Promise<string | undefined> {
    if (!this.held) {
      // Not held (any more): `before` (the run's last journal line) still goes out, on its own.
      if (before) await this.transport.exec(before, { timeoutMs: 60_000 }).catch(() => undefined);
      return undefined;
    }
    try {
      // `before` in the same round trip, and the release whatever it ends with.
      // Exit NOT_OURS: the lock is no longer this run's (taken over, or removed by bg unlock).
      const remove = removeLockCommand(this.dir, this.meta.runId);
      const r = await this.transport.exec(before ? `${before}\n${remove}` : remove, { timeoutMs: 60_000 });
      if (r.exitCode !== 0 && r.exitCode !== NOT_OURS) return (r.stderr || `exit ${r.exitCode}`).trim().split('\n').pop();
      this.held = false;
      return undefined;
    } catch (e) {
      return (e as Error).message;
    }
  }
}

/** What a lock says about its holder; `problem` when its info.json is missing or damaged. */
export type LockInfo = Partial<RunMeta> & { problem?: string };

/** Read the lock of a host: undefined when free. */
export async function readLock(transport: Transport, journalDir: string): Promise<LockInfo | undefined> {
  const r = await transport.exec(readLockCommand(lockDir(journalDir)), { timeoutMs: 60_000 });
  return r.exitCode === 0 ? parseInfo(r.stdout) : undefined;
}

/**
 * Remove the lock; with `onlyRunId`, only while it is still that run's lock (a takeover must not
 * remove a lock another run took in the meantime). Returns whether it removed it.
 */
export async function removeLock(transport: Transport, journalDir: string, onlyRunId?: string): Promise<boolean> {
  const r = await transport.exec(removeLockCommand(lockDir(journalDir), onlyRunId || undefined), { timeoutMs: 60_000 });
  if (r.exitCode === NOT_OURS && onlyRunId) return false;
  if (r.exitCode !== 0) throw new BgError(`cannot remove the lock on ${transport.host} (${lockDir(journalDir)}): ${r.stderr.trim() || `exit ${r.exitCode}`}`, ExitCode.stepFailed);
  return true;
}

/** Take the lock whole (see HostLock; bg_lock_take in src/remote/lock.sh): exit HELD printing the holder's info when it is taken. */
export function takeLockCommand(lock: string): string {
  return call('bg_lock_take', quotePath(lock), shellQuote(INFO));
}

/** The holder's info while the host is locked; exit 1 when it is not. */
export function readLockCommand(lock: string): string {
  return call('bg_lock_read', quotePath(lock), shellQuote(INFO));
}

/** Remove the lock; with `runId`, only while it is that run's (else exit NOT_OURS). */
export function removeLockCommand(lock: string, runId?: string): string {
  return call('bg_lock_remove', quotePath(lock), shellQuote(INFO), runId === undefined ? undefined : shellQuote(runId));
}

function parseInfo(text: string): LockInfo {
  if (!text.trim()) return { problem: `the lock has no ${INFO} (left by a run that could not write it?)` };
  const r = parseMeta(text);
  return r.ok ? r.value : { problem: `the lock's ${INFO} is damaged: ${r.problem}` };
}

/** The lock wait's poll interval, cut short by an abort (Ctrl-C must not wait for the next poll). */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => (clearTimeout(t), resolve());
    const t = setTimeout(() => (signal?.removeEventListener('abort', onAbort), resolve()), ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
