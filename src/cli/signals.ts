// The one place where SIGINT (Ctrl-C), SIGTERM (what CI runners, `timeout`, systemd and
// docker send) and SIGHUP (the terminal went away) become something bg does. Both mean the same: stop what is running, put the host
// back, release the lock, exit with a code of the contract. A second signal means "now": every
// command bg has running is killed and bg exits at once, naming what a person must finish.
//
// GitHub Actions cancels a job with SIGINT, then SIGTERM 7.5 s later, then SIGKILL 2.5 s after
// that: the SIGTERM is the second signal there, so bg still gets to say what is left.
import { ExitCode } from '../errors.js';
import { killInFlight } from '../transport/inflight.js';

export type InterruptSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP';

type Handler = (sig: InterruptSignal) => void;

const stack: Handler[] = [];
let hostSessions = 0;
let listening = false;

const onSigint = () => dispatch('SIGINT');
const onSigterm = () => dispatch('SIGTERM');
// The terminal went away (an SSH session to a bastion dropped, a closed window): the same as
// SIGTERM, but bg's own output may have nowhere to go now: a failed write must not crash it.
const onSighup = () => {
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  dispatch('SIGHUP');
};

function dispatch(sig: InterruptSignal): void {
  const top = stack.at(-1);
  if (top) top(sig);
  else quitNow(ExitCode.stepFailed, `\nbg: interrupted (${sig}); stopped`);
}

function listen(): void {
  const want = stack.length > 0 || hostSessions > 0;
  if (want && !listening) {
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigterm);
    process.on('SIGHUP', onSighup);
  } else if (!want && listening) {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    process.off('SIGHUP', onSighup);
  }
  listening = want;
}

/**
 * While bg talks to hosts, a signal never just kills bg: by default (a read-only command such as
 * `bg status`) the commands in flight are stopped and bg exits 1. Commands that change hosts
 * install their own handling with trapInterrupts(). Returns the release function.
 */
export function holdHostSession(): () => void {
  hostSessions++;
  listen();
  let released = false;
  return () => {
    if (released) return;
    released = true;
    hostSessions--;
    listen();
  };
}

/**
 * Quit at once: kill every command bg has running (locally its process group, over SSH the
 * session gets KILL), then exit with `code`. The short wait lets the KILL requests leave the socket.
 */
export function quitNow(code: number, message: string): void {
  process.stderr.write(message + '\n');
  const killed = killInFlight();
  process.exitCode = code;
  setTimeout(() => process.exit(code), killed ? 300 : 0);
}

export interface Interrupts {
  /** Aborted on the first SIGINT/SIGTERM. */
  readonly signal: AbortSignal;
  /** The first signal received, if any. */
  readonly received: InterruptSignal | undefined;
  dispose(): void;
}

export interface InterruptPolicy {
  /** What bg does now, said on the first signal (e.g. "stopping the running step and rolling back"). */
  first(sig: InterruptSignal): string;
  /** The exit code and message when a second signal makes bg quit at once. */
  second(sig: InterruptSignal): { code: number; message: string };
}

/** Turn the first SIGINT/SIGTERM into an abort, the second into an immediate exit (see top). */
export function trapInterrupts(policy: InterruptPolicy): Interrupts {
  const aborter = new AbortController();
  let received: InterruptSignal | undefined;
  const handler: Handler = (sig) => {
    if (received) {
      const { code, message } = policy.second(sig);
      quitNow(code, `\nbg: ${sig} again: quitting at once (exit ${code}).\n${message}`);
      return;
    }
    received = sig;
    const again = sig === 'SIGINT' ? 'Ctrl-C again' : 'another signal';
    process.stderr.write(`\nbg: interrupted (${sig}); ${policy.first(sig)} (${again} quits at once and leaves it unfinished)\n`);
    aborter.abort(new Error(`interrupted (${sig})`));
  };
  stack.push(handler);
  listen();
  return {
    signal: aborter.signal,
    get received() {
      return received;
    },
    dispose: () => {
      const i = stack.lastIndexOf(handler);
      if (i >= 0) stack.splice(i, 1);
      listen();
    },
  };
}
