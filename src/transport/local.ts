import { execa } from 'execa';
import { trackInFlight } from './inflight.js';
import { commandBound, MAX_TIMER_MS, timeoutNote, type Bound, type CommandResult, type ExecOptions, type Transport } from './transport.js';

const KILL_GRACE_MS = 2000;

/** Runs commands on this machine with `sh -c`, the same shell semantics as an SSH host. */
export class LocalTransport implements Transport {
  readonly kind = 'local' as const;
  constructor(readonly host: string) {}

  async connect(): Promise<void> {}

  async exec(command: string, options: ExecOptions = {}): Promise<CommandResult> {
    const started = performance.now();
    const bound = commandBound(options);
    // Its own process group, so that a timeout or Ctrl-C stops the whole command (a `sleep` in a
    // pipeline, a migration's children), as sshd does for a session.
    // A sink takes standard output as bytes, unbuffered (a file read through a command).
    const sink = options.stdoutSink;
    const child = execa('sh', ['-c', command], { reject: false, input: options.stdin ?? '', detached: true, stripFinalNewline: true, ...(sink ? { buffer: { stdout: false } } : {}) });
    if (sink) child.stdout?.on('data', (chunk: Buffer) => sink(chunk));
    else if (options.onStdout) child.stdout?.on('data', (chunk: Buffer) => options.onStdout!(chunk.toString('utf8')));
    const killGroup = (sig: NodeJS.Signals) => {
      if (child.pid === undefined) return false;
      try {
        process.kill(-child.pid, sig);
        return true;
      } catch {
        return false; // already gone
      }
    };
    // If bg itself must quit at once, the command must not outlive it unattended.
    const untrack = trackInFlight(() => killGroup('SIGKILL'));
    let stopped: 'timeout' | 'cancel' | undefined;
    const stop = (why: 'timeout' | 'cancel') => {
      if (stopped || child.pid === undefined) return;
      stopped = why;
      if (!killGroup(why === 'timeout' ? 'SIGTERM' : 'SIGINT')) return;
      setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS).unref();
    };
    const timer = setTimeout(() => stop('timeout'), Math.min(bound.ms, MAX_TIMER_MS));
    const onAbort = () => stop('cancel');
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const r = await child;
    clearTimeout(timer);
    untrack();
    options.signal?.removeEventListener('abort', onAbort);
    let stderr = String(r.stderr ?? '');
    const note = stopped === 'timeout' ? timeoutNote(bound) : stopped === 'cancel' ? 'bg: cancelled (interrupted)' : undefined;
    if (note) stderr = stderr ? `${stderr}\n${note}` : note;
    return {
      exitCode: stopped === 'timeout' ? 124 : stopped === 'cancel' ? 130 : (r.exitCode ?? 255),
      stdout: String(r.stdout ?? ''),
      stderr,
      durationMs: performance.now() - started,
      signal: r.signal ?? undefined,
      timedOut: stopped === 'timeout' || undefined,
    };
  }

  boundFor(options: ExecOptions): Bound {
    return commandBound(options);
  }

  async close(): Promise<void> {}
}
