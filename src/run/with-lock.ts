// The lock-run-release sequence every changing command goes through (bg run, bg rollback, and
// bg restore, which is a run): take every host's lock or none, run, release every lock.
import { BgError, ExitCode } from '../errors.js';
import type { HostLock } from './lock.js';

export interface LockHold {
  host: string;
  lock: HostLock;
  /** How to take it, when not plainly (bg rollback may take over its own run's lock). */
  take?: (waitSeconds: number, signal: AbortSignal) => Promise<void>;
  /** A command sent with the release, in its round trip (the run's last journal line). */
  beforeRelease?: () => string | undefined;
}

export interface LockOptions {
  waitSeconds: number;
  signal: AbortSignal;
  /** The exit-3 message when a signal arrives before the work starts. */
  interrupted: string;
  /** A lock that could not be taken says why itself, even when a signal came too. */
  failureFirst?: boolean;
  /** Told about each lock left behind when the work threw (the error itself goes on up). */
  leftOnError?: (host: string, why: string) => void;
}

/**
 * Take every lock, run `work`, release every lock. Returns the work's value and the locks that
 * are left (host → why, e.g. the connection is gone): the caller says what a person must do.
 * A lock is released on every path, also when the work throws.
 */
export async function withLocks<T>(holds: LockHold[], opts: LockOptions, work: () => Promise<T>): Promise<{ value: T; left: Map<string, string> }> {
  await takeAll(holds, opts);
  let value: T;
  try {
    value = await work();
  } catch (e) {
    for (const [host, why] of await releaseAll(holds)) opts.leftOnError?.(host, why);
    throw e;
  }
  return { value, left: await releaseAll(holds) };
}

/**
 * Take every host's lock or none: a run never starts on some hosts while another holds the rest.
 * Interrupted while waiting (or right as the last lock was taken): every lock taken is released
 * and nothing runs (exit 3).
 */
async function takeAll(holds: LockHold[], opts: LockOptions): Promise<void> {
  const results = await Promise.allSettled(holds.map((h) => (h.take ? h.take(opts.waitSeconds, opts.signal) : h.lock.acquire(opts.waitSeconds, opts.signal))));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed || opts.signal.aborted) {
    await releaseAll(holds);
    if (failed && (opts.failureFirst || !opts.signal.aborted)) throw failed.reason;
    throw new BgError(opts.interrupted, ExitCode.locked);
  }
}

/** Release every lock held (release never throws); the ones left, with why. */
async function releaseAll(holds: LockHold[]): Promise<Map<string, string>> {
  const left = new Map<string, string>();
  const whys = await Promise.all(holds.map((h) => h.lock.release(h.beforeRelease?.())));
  holds.forEach((h, i) => whys[i] && left.set(h.host, whys[i]!));
  return left;
}
