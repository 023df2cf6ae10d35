import { execa } from 'execa';
import type { CommandResult, ExecOptions, Transport } from './transport.js';

const KILL_GRACE_MS = 2000;

/** Runs commands on this machine with `sh -c`, the same shell semantics as an SSH host. */
export class LocalTransport implements Transport {
  readonly kind = 'local' as const;
  constructor(readonly host: string) {}

  async connect(): Promise<void> {}

  async exec(command: string, options: ExecOptions = {}): Promise<CommandResult> {
    const started = performance.now();
    // Its own process group, so that a timeout or Ctrl-C stops the whole command (a `sleep` in a
    // pipeline, a migration's children), as sshd does for a session.
    const child = execa('sh', ['-c', command], { reject: false, input: options.stdin ?? '', detached: true, stripFinalNewline: true });
    let stopped: 'timeout' | 'cancel' | undefined;
    const stop = (why: 'timeout' | 'cancel') => {
      if (stopped || child.pid === undefined) return;
      stopped = why;
      const group = -child.pid;
      try {
        process.kill(group, why === 'timeout' ? 'SIGTERM' : 'SIGINT');
      } catch {
        return; // already gone
      }
      setTimeout(() => {
        try {
          process.kill(group, 'SIGKILL');
        } catch {
          // gone by then
        }
      }, KILL_GRACE_MS).unref();
    };
    const timer = options.timeoutMs ? setTimeout(() => stop('timeout'), options.timeoutMs) : undefined;
    const onAbort = () => stop('cancel');
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const r = await child;
    if (timer) clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    return {
      exitCode: stopped === 'timeout' ? 124 : stopped === 'cancel' ? 130 : (r.exitCode ?? 255),
      stdout: String(r.stdout ?? ''),
      stderr: String(r.stderr ?? ''),
      durationMs: performance.now() - started,
      signal: r.signal ?? undefined,
      timedOut: stopped === 'timeout' || undefined,
    };
  }

  async close(): Promise<void> {}
}
