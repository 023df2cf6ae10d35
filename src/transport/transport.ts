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
  /** Kill the command after this long; the result then has `timedOut: true`. */
  timeoutMs?: number;
  /** Aborting kills the command (Ctrl-C). */
  signal?: AbortSignal;
  /** Text written to the command's standard input. */
  stdin?: string;
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
}
