// A transport that runs nothing: it records every command bg would send, in order, and answers
// each with a result the test chooses (exit 0 and no output by default). What unit tests of the
// executor, journal and lock use instead of a host; the e2e suites keep the real sshd and sh.
import { ConnectionError } from '../../src/errors.js';
import type { CommandResult, ExecOptions, Transport } from '../../src/transport/transport.js';

/** One command as bg sent it. */
export interface RecordedCommand {
  /** Position among all commands sent through this transport, from 0. */
  seq: number;
  command: string;
  stdin?: string;
  timeoutMs?: number;
  /** Whether the command's AbortSignal had fired by the time its result was returned. */
  aborted: boolean;
}

/** What a command gets back; missing fields default to a success with no output. */
export type Reply = Partial<CommandResult>;
export type Responder = (command: string, options: ExecOptions, seq: number) => Reply | Promise<Reply>;

export class RecordingTransport implements Transport {
  readonly commands: RecordedCommand[] = [];
  connected = false;
  closed = false;

  constructor(
    readonly host = 'testhost',
    private readonly respond: Responder = () => ({}),
    readonly kind: 'local' | 'ssh' = 'ssh',
  ) {}

  async connect(): Promise<void> {
    this.connected = true;
  }

  async exec(command: string, options: ExecOptions = {}): Promise<CommandResult> {
    if (this.closed) throw new ConnectionError(this.host, 'the transport was closed');
    const entry: RecordedCommand = { seq: this.commands.length, command, stdin: options.stdin, timeoutMs: options.timeoutMs, aborted: false };
    this.commands.push(entry);
    const reply = await this.respond(command, options, entry.seq);
    entry.aborted = options.signal?.aborted === true;
    return { exitCode: 0, stdout: '', stderr: '', durationMs: 1, ...reply };
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** The commands sent so far that contain `text` (or match it). */
  sent(text: string | RegExp): RecordedCommand[] {
    return this.commands.filter((c) => (typeof text === 'string' ? c.command.includes(text) : text.test(c.command)));
  }
}
