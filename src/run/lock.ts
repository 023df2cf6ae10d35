import { LockedError, BgError, ExitCode } from '../errors.js';
import { joinPath, quotePath, shellQuote } from '../plan/quote.js';
import type { Transport } from '../transport/transport.js';
import { describeHolder, type RunMeta } from './run-meta.js';

const HELD = 3;

/**
 * One run at a time per host: `mkdir` of JOURNAL/lock is atomic on every filesystem, and the
 * details file inside says who holds it. Released on every exit path by the caller's finally.
 */
export class HostLock {
  private held = false;
  private readonly dir: string;

  constructor(
    private readonly transport: Transport,
    journalDir: string,
    private readonly meta: RunMeta,
  ) {
    this.dir = joinPath(journalDir, 'lock');
  }

  /**
   * Take the lock, polling up to `waitSeconds` while another run holds it; else LockedError (exit 3).
   * An abort (Ctrl-C, SIGTERM) stops the wait with exit 3 too: nothing ran. The take itself is never
   * cancelled halfway (that could leave a lock nobody knows it holds); an abort that arrives during
   * it is seen by the caller right after, which then releases.
   */
  async acquire(waitSeconds = 0, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + waitSeconds * 1000;
    for (;;) {
      if (signal?.aborted) throw new BgError(`interrupted while waiting for the lock on ${this.transport.host}: nothing ran`, ExitCode.locked);
      const d = quotePath(this.dir);
      const r = await this.transport.exec(
        `mkdir -p "$(dirname ${d})" && if mkdir ${d} 2>/dev/null; then cat > ${d}/info.json; else cat ${d}/info.json 2>/dev/null || echo '{}'; exit ${HELD}; fi`,
        { stdin: JSON.stringify(this.meta) + '\n' },
      );
      if (r.exitCode === 0) {
        this.held = true;
        return;
      }
      if (r.exitCode !== HELD) throw new BgError(`cannot take the lock on ${this.transport.host} (${this.dir}): ${r.stderr.trim() || `exit ${r.exitCode}`}`, ExitCode.stepFailed);
      if (Date.now() >= deadline) throw new LockedError(this.transport.host, `${describeHolder(parseInfo(r.stdout))}\n(wait with --lock-wait SECONDS; if that run is gone: bg unlock --host ${this.transport.host})`);
      await pause(Math.min(1000, Math.max(0, deadline - Date.now())), signal);
    }
  }

  /**
   * Remove the lock if it is still ours. Never throws: it runs on every exit path, where it must not
   * hide the outcome. Returns why the lock is left, if it is (e.g. the connection is gone).
   */
  async release(): Promise<string | undefined> {
    if (!this.held) return undefined;
    const d = quotePath(this.dir);
    try {
      const r = await this.transport.exec(`if grep -qF ${shellQuote(`"runId":"${this.meta.runId}"`)} ${d}/info.json 2>/dev/null; then rm -rf ${d}; fi`);
      if (r.exitCode !== 0) return (r.stderr || `exit ${r.exitCode}`).trim().split('\n').pop();
      this.held = false;
      return undefined;
    } catch (e) {
      return (e as Error).message;
    }
  }
}

/** Read the lock of a host: undefined when free. */
export async function readLock(transport: Transport, journalDir: string): Promise<Partial<RunMeta> | undefined> {
  const d = quotePath(joinPath(journalDir, 'lock'));
  const r = await transport.exec(`if [ -d ${d} ]; then cat ${d}/info.json 2>/dev/null || echo '{}'; else exit 1; fi`);
  return r.exitCode === 0 ? parseInfo(r.stdout) : undefined;
}

export async function removeLock(transport: Transport, journalDir: string): Promise<void> {
  const r = await transport.exec(`rm -rf ${quotePath(joinPath(journalDir, 'lock'))}`);
  if (r.exitCode !== 0) throw new BgError(`cannot remove the lock on ${transport.host}: ${r.stderr.trim()}`, ExitCode.stepFailed);
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

function parseInfo(text: string): Partial<RunMeta> {
  try {
    return JSON.parse(text) as Partial<RunMeta>;
  } catch {
    return {};
  }
}
