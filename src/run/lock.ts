import { LockedError, BgError, ExitCode } from '../errors.js';
import { quotePath, shellQuote } from '../plan/quote.js';
import type { Transport } from '../transport/transport.js';
import { describeHolder, type RunMeta } from './run-meta.js';
import { parseMeta } from './journal-schema.js';
import { LOCK_FILES, lockDir } from './journal-layout.js';

const INFO = LOCK_FILES.info;

const HELD = 3;

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
  async acquire(waitSeconds = 0, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + waitSeconds * 1000;
    for (;;) {
      if (signal?.aborted) throw new BgError(`interrupted while waiting for the lock on ${this.transport.host}: nothing ran`, ExitCode.locked);
      const r = await this.transport.exec(acquireScript(this.dir), { stdin: JSON.stringify(this.meta) + '\n', timeoutMs: 60_000 });
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
      // Renamed away first, then deleted: `rm -rf` of the lock itself would leave it empty for a
      // moment, and an empty lock can be replaced by another run's rename while rm still works on it.
      const r = await this.transport.exec(`if grep -qF ${shellQuote(`"runId":"${this.meta.runId}"`)} ${d}/${INFO} 2>/dev/null; then g=${d}.gone.$$ && mv -T ${d} "$g" && rm -rf "$g"; fi`, { timeoutMs: 60_000 });
      if (r.exitCode !== 0) return (r.stderr || `exit ${r.exitCode}`).trim().split('\n').pop();
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
  const d = quotePath(lockDir(journalDir));
  const r = await transport.exec(`if [ -d ${d} ]; then cat ${d}/${INFO} 2>/dev/null; exit 0; else exit 1; fi`, { timeoutMs: 60_000 });
  return r.exitCode === 0 ? parseInfo(r.stdout) : undefined;
}

/**
 * Remove the lock; with `onlyRunId`, only while it is still that run's lock (a takeover must not
 * remove a lock another run took in the meantime). Returns whether it removed it.
 */
export async function removeLock(transport: Transport, journalDir: string, onlyRunId?: string): Promise<boolean> {
  const d = quotePath(lockDir(journalDir));
  const guard = onlyRunId ? `grep -qF ${shellQuote(`"runId":"${onlyRunId}"`)} ${d}/${INFO} 2>/dev/null || exit 3; ` : '';
  const r = await transport.exec(`${guard}[ -e ${d} ] || exit 0; g=${d}.gone.$$ && mv -T ${d} "$g" && rm -rf "$g"`, { timeoutMs: 60_000 });
  if (r.exitCode === 3 && onlyRunId) return false;
  if (r.exitCode !== 0) throw new BgError(`cannot remove the lock on ${transport.host} (${lockDir(journalDir)}): ${r.stderr.trim() || `exit ${r.exitCode}`}`, ExitCode.stepFailed);
  return true;
}

/** Shell: take the lock whole (see HostLock), exit HELD printing the holder's info when it is taken. */
function acquireScript(lockDir: string): string {
  const d = quotePath(lockDir);
  return [
    `d=${d}; t="$d.new.$$"`,
    'mkdir -p "$(dirname -- "$d")" || exit 1',
    'rm -rf "$t"; mkdir "$t" || exit 1',
    `{ cat > "$t/${INFO}" && sync "$t/${INFO}"; } || { rm -rf "$t"; echo "bg: cannot write the lock's info in $t (disk full?)" >&2; exit 1; }`,
    // -T: never move into an existing lock directory; an empty one (left by an older bg) is replaced.
    // The holder may release between our rename and our look at its lock: then try again.
    'i=0',
    'while :; do',
    '  mv -T "$t" "$d" 2>/dev/null && exit 0',
    `  info=$(cat "$d/${INFO}" 2>/dev/null)`,
    `  if [ -d "$d" ]; then rm -rf "$t"; printf '%s\\n' "$info"; exit ${HELD}; fi`,
    '  i=$((i + 1))',
    `  [ "$i" -lt 5 ] || { rm -rf "$t"; echo "bg: cannot create the lock $d" >&2; exit 1; }`,
    'done',
  ].join('\n');
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
