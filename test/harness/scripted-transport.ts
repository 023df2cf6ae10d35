// A scripted fake host on top of the recording transport: rules say how a command that contains
// (or matches) some text ends, in order of definition; a rule can answer differently on each
// call, hang until the command's AbortSignal or timeout, or drop the connection. Anything no rule
// matches succeeds with no output.
import { ConnectionError } from '../../src/errors.js';
import type { ExecOptions } from '../../src/transport/transport.js';
import type { CommandResult } from '../../src/transport/transport.js';
import { playStep } from './fake-step-host.js';
import { RecordingTransport, type Reply } from './recording-transport.js';

type Match = string | RegExp | ((command: string) => boolean);
/** One answer: a result, 'hang' (until aborted or timed out), or 'lose' (the connection dies). */
export type Outcome = Reply | 'hang' | 'lose';

interface Rule {
  match: Match;
  outcomes: Outcome[];
  calls: number;
}

export class ScriptedTransport extends RecordingTransport {
  private readonly rules: Rule[] = [];
  private lost = false;
  /** The host-side step invocations (bg_step …) as sent: one per step, undo included. */
  readonly roundTrips: string[] = [];

  /**
   * A step (bg_step …) is played by the fake host runner: each of its commands and journal lines
   * is recorded in `commands` and answered by the rules, as if sent alone.
   */
  override async exec(command: string, options: ExecOptions = {}): Promise<CommandResult> {
    if (!command.includes('bg_step ')) return super.exec(command, options);
    if (this.lost) throw new ConnectionError(this.host, 'connection lost to testhost; no further command was sent');
    this.roundTrips.push(command);
    // A prelude in front of the step (the journal's start): answered as a command of its own.
    const prelude = /^\{ ([\s\S]*); \} \|\| \{ printf '%s prelude-failed\\n' ([0-9a-f]+); exit 1; \}\n/.exec(command);
    if (prelude) {
      const entry = { seq: this.commands.length, command: prelude[1]!, stdin: options.stdin, aborted: false };
      this.commands.push(entry);
      const reply = await this.answer(prelude[1]!, options);
      if ((reply.exitCode ?? 0) !== 0) return { exitCode: 1, stdout: `${prelude[2]} prelude-failed`, stderr: reply.stderr ?? '', durationMs: 1 };
    }
    const { stdout, stderr, lost } = await playStep(
      command,
      async (cmd, o) => {
        const entry = { seq: this.commands.length, command: cmd, aborted: false };
        this.commands.push(entry);
        const reply = await this.answer(cmd, o);
        entry.aborted = o.signal?.aborted === true;
        return { exitCode: reply.exitCode ?? 0, stdout: reply.stdout, stderr: reply.stderr, lost: reply.connectionLost };
      },
      options,
    );
    if (lost) return { exitCode: 255, stdout, stderr: "bg: connection lost to testhost; the command's outcome on the host is unknown", durationMs: 1, connectionLost: true };
    return { exitCode: stdout.includes(' end ok ') ? 0 : 1, stdout, stderr: stderr ?? '', durationMs: 1 };
  }

  constructor(host = 'testhost', kind: 'local' | 'ssh' = 'ssh') {
    super(host, (command, options) => this.answer(command, options), kind);
  }

  /**
   * Commands matching `match` end with `outcomes` in turn; the last one repeats. Earlier rules win.
   * Returns the transport, so rules chain.
   */
  on(match: Match, ...outcomes: Outcome[]): this {
    this.rules.push({ match, outcomes: outcomes.length ? outcomes : [{}], calls: 0 });
    return this;
  }

  /** Commands matching `match` exit with `code`, saying `stderr`. */
  fail(match: Match, code = 1, stderr = 'scripted failure'): this {
    return this.on(match, { exitCode: code, stderr });
  }

  /** How many commands a rule's match has answered (by the match given to on()). */
  calls(match: Match): number {
    return this.rules.find((r) => r.match === match)?.calls ?? 0;
  }

  private async answer(command: string, options: ExecOptions): Promise<Reply> {
    if (this.lost) throw new ConnectionError(this.host, 'connection lost to testhost; no further command was sent');
    const rule = this.rules.find((r) => matches(r.match, command));
    if (!rule) return {};
    const outcome = rule.outcomes[Math.min(rule.calls, rule.outcomes.length - 1)]!;
    rule.calls++;
    if (outcome === 'lose') {
      this.lost = true;
      return { exitCode: 255, stderr: "bg: connection lost to testhost; the command's outcome on the host is unknown", connectionLost: true };
    }
    if (outcome === 'hang') return hang(options);
    return outcome;
  }
}

function matches(m: Match, command: string): boolean {
  if (typeof m === 'string') return command.includes(m);
  if (m instanceof RegExp) return m.test(command);
  return m(command);
}

/** Never ends by itself: as a real transport, 130 when aborted, 124 at the command's timeout. */
function hang(options: ExecOptions): Promise<Reply> {
  return new Promise((resolve) => {
    const timer = options.timeoutMs ? setTimeout(() => resolve({ exitCode: 124, timedOut: true, signal: 'SIGTERM', stderr: 'bg: the command did not finish (scripted)' }), options.timeoutMs) : undefined;
    const onAbort = () => {
      clearTimeout(timer);
      resolve({ exitCode: 130, signal: 'SIGINT', stderr: 'bg: interrupted' });
    };
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
  });
}
