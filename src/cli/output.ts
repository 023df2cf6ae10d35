import type { ListrRendererValue } from 'listr2';
import type { EventSink } from '../run/events.js';

export interface OutputFlags {
  ci?: boolean;
  json?: boolean;
}

/** True when output goes to a log rather than a person: --ci, CI=true, or no TTY. */
export function isCi(flags: OutputFlags, env = process.env, tty = process.stdout.isTTY === true): boolean {
  return flags.ci === true || env.CI === 'true' || env.CI === '1' || !tty;
}

/** The one place the renderer is chosen: animated on a TTY, plain lines in CI logs, silent for --json. */
export function chooseRenderer(flags: OutputFlags, env = process.env, tty = process.stdout.isTTY === true): ListrRendererValue {
  if (flags.json) return 'silent';
  return isCi(flags, env, tty) ? 'simple' : 'default';
}

/** --json: one event per line on stdout; otherwise events are not printed (listr2 shows progress). */
export function eventSink(flags: OutputFlags, write = (s: string) => process.stdout.write(s)): EventSink {
  if (!flags.json) return () => undefined;
  return (event) => write(JSON.stringify(event) + '\n');
}
