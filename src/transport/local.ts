import { execa } from 'execa';
import type { CommandResult, ExecOptions, Transport } from './transport.js';

/** Runs commands on this machine with `sh -c`, the same shell semantics as an SSH host. */
export class LocalTransport implements Transport {
  readonly kind = 'local' as const;
  constructor(readonly host: string) {}

  async connect(): Promise<void> {}

  async exec(command: string, options: ExecOptions = {}): Promise<CommandResult> {
    const started = performance.now();
    const r = await execa('sh', ['-c', command], {
      reject: false,
      timeout: options.timeoutMs,
      cancelSignal: options.signal,
      input: options.stdin ?? '',
      // Only the child is killed on timeout; keep its output for the error message.
      all: false,
      stripFinalNewline: true,
    });
    return {
      exitCode: r.exitCode ?? (r.timedOut ? 124 : r.isCanceled ? 130 : 255),
      stdout: String(r.stdout ?? ''),
      stderr: String(r.stderr ?? ''),
      durationMs: performance.now() - started,
      signal: r.signal ?? undefined,
      timedOut: r.timedOut || undefined,
    };
  }

  async close(): Promise<void> {}
}
