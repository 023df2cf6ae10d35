/** The outcome of one command on a host. Transports never throw on a non-zero exit. */
export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
  /** Set when the command was killed (timeout, cancellation, lost connection). */
  signal?: string;
  timedOut?: boolean;
  /** The connection died while the command ran: its outcome on the host is unknown. */
  connectionLost?: boolean;
}

export interface ExecOptions {
  /**
   * Kill the command after this long; the result then has `timedOut: true`. Without it the
   * transport's default bound applies (commandBound): no command waits forever.
   */
  timeoutMs?: number;
  /** Where `timeoutMs` comes from, named in the timeout message (e.g. "the step's timeout:"). */
  timeoutSource?: string;
  /** Aborting kills the command (Ctrl-C). */
  signal?: AbortSignal;
  /** Text written to the command's standard input. */
  stdin?: string;
  /** The remote library (sha256) the command needs, when not this bg's own: an earlier run's (src/remote/install.ts). */
  library?: string;
  /** Called with each piece of standard output as it arrives (a step's events, see run/step-runner.ts). */
  onStdout?: (chunk: string) => void;
  /**
   * Standard output as raw bytes, only to here (the result's `stdout` stays empty): a file read
   * from the host without holding it in memory or decoding it as text (run/offhost.ts).
   */
  stdoutSink?: (chunk: Buffer) => void;
  /**
   * Standard output is framed events carrying encoded output (a host-side step): wrappers pass it
   * through as it is, and the reader redacts what it decodes with `Transport.redact`.
   */
  framed?: boolean;
}

/**
 * How bg talks to a host. A transport runs a shell command line (already quoted, with any
 * `cd DIR && ` prefix and variables built in by the planner) under `sh -c` semantics.
 * Connection problems throw ConnectionError; a command that fails only returns a non-zero exitCode.
 */
export interface Transport {
  /** Host name as written in the inventory, for messages. */
  readonly host: string;
  readonly kind: 'local' | 'ssh';
  connect(): Promise<void>;
  exec(command: string, options?: ExecOptions): Promise<CommandResult>;
  close(): Promise<void>;
  /** Hide the secrets this transport knows in a text (output decoded from a framed stream). Default: none. */
  redact?(text: string): string;
  /** The bound a command with these options runs under on this host (commandBound with the host's settings). */
  boundFor?(options: ExecOptions): Bound;
}

/**
 * The default bound of every command that names none (journal writes, lock commands, status and
 * history reads, steps without `timeout:`): 600 s, or BG_COMMAND_TIMEOUT seconds, or the host's
 * `ssh.command_timeout`. A hung host or a command that waits on input must not hang bg forever.
 */
export const DEFAULT_COMMAND_TIMEOUT_S = 600;

export interface Bound {
  ms: number;
  /** Said in the message of a command that hit it. */
  source: string;
}

/** The bound a command runs under: its own, else the host's, else BG_COMMAND_TIMEOUT, else 600 s. */
export function commandBound(options: ExecOptions, hostTimeoutS?: number, env: NodeJS.ProcessEnv = process.env): Bound {
  if (options.timeoutMs !== undefined && options.timeoutMs > 0) return { ms: options.timeoutMs, source: options.timeoutSource ?? 'the command\'s timeout' };
  if (hostTimeoutS) return { ms: hostTimeoutS * 1000, source: "the host's ssh.command_timeout" };
  const fromEnv = Number(env.BG_COMMAND_TIMEOUT);
  if (env.BG_COMMAND_TIMEOUT && Number.isFinite(fromEnv) && fromEnv > 0) return { ms: fromEnv * 1000, source: 'BG_COMMAND_TIMEOUT' };
  return { ms: DEFAULT_COMMAND_TIMEOUT_S * 1000, source: `bg's default per-command bound; a step's timeout: or BG_COMMAND_TIMEOUT changes it` };
}

/** "bg: the command did not finish within 600 s (bound: ...)" */
export function timeoutNote(b: Bound): string {
  const secs = b.ms % 1000 === 0 ? String(b.ms / 1000) : (b.ms / 1000).toFixed(1);
  return `bg: the command did not finish within ${secs} s (bound: ${b.source}); it was stopped`;
}

/** Node timers overflow above 2^31-1 ms (about 24.8 days) and fire at once: cap there. */
export const MAX_TIMER_MS = 2_147_483_647;
