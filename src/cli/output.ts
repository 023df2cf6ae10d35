import type { ListrRendererValue } from 'listr2';
import type { EventSink } from '../run/events.js';
import { githubLog } from './github.js';

export interface OutputFlags {
  ci?: boolean;
  json?: boolean;
}

/** True when output goes to a log rather than a person: --ci, CI=true, or no TTY. */
export function isCi(flags: OutputFlags, env = process.env, tty = process.stdout.isTTY === true): boolean {
  return flags.ci === true || env.CI === 'true' || env.CI === '1' || !tty;
}

/** In GitHub Actions the log gets groups and annotations instead of listr2's lines. */
export function isGithub(flags: OutputFlags, env = process.env, tty = process.stdout.isTTY === true): boolean {
  return !flags.json && env.GITHUB_ACTIONS === 'true' && isCi(flags, env, tty);
}

/** The one place the renderer is chosen: animated on a TTY, plain lines in CI logs, silent for --json. */
export function chooseRenderer(flags: OutputFlags, env = process.env, tty = process.stdout.isTTY === true): ListrRendererValue {
  if (flags.json || isGithub(flags, env, tty)) return 'silent';
  return isCi(flags, env, tty) ? 'simple' : 'default';
}

/** --json: one event per line on stdout; GitHub Actions: grouped log lines; otherwise listr2 shows progress. */
export function eventSink(flags: OutputFlags, write = (s: string) => process.stdout.write(s), env = process.env): EventSink {
  if (flags.json) return (event) => write(JSON.stringify(event) + '\n');
  if (isGithub(flags, env)) return githubLog(write);
  return () => undefined;
}

/** Several sinks as one. */
export function fanOut(...sinks: EventSink[]): EventSink {
  return (e) => sinks.forEach((s) => s(e));
}
