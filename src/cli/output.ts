import { appendFileSync } from 'node:fs';
import type { ListrRendererValue } from 'listr2';
import type { EventSink } from '../run/events.js';
import { githubLog } from './github.js';
import { oneLine } from './sanitize.js';

/** The output flags every command accepts (global options in main.ts). */
export interface OutputFlags {
  ci?: boolean | undefined;
  json?: boolean | undefined;
  /** false for --no-color (main.ts sets NO_COLOR before any colour library loads). */
  color?: boolean | undefined;
}

/**
 * Running in GitHub Actions: GITHUB_ACTIONS=true (the runner sets it), or --ci with GITHUB_ACTIONS
 * set at all. Decides the stream guard (main.ts) and the inline annotations of validate and lint.
 */
export function inGithubActions(flags: OutputFlags, env = process.env): boolean {
  const v = env.GITHUB_ACTIONS;
  return v === 'true' || (flags.ci === true && !!v && v !== 'false' && v !== '0');
}

/** validate and lint annotate their findings on the diff; never into --json output. */
export function githubAnnotations(flags: OutputFlags, env = process.env): boolean {
  return !flags.json && inGithubActions(flags, env);
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
  const sink = screenSink(flags, write, env);
  return env.BG_EVENTS_FILE ? fanOut(sink, eventsFile(env.BG_EVENTS_FILE)) : sink;
}

function screenSink(flags: OutputFlags, write: (s: string) => void, env: NodeJS.ProcessEnv): EventSink {
  if (flags.json) return (event) => write(JSON.stringify(event) + '\n');
  if (isGithub(flags, env)) return githubLog(write);
  return () => undefined;
}

/**
 * $BG_EVENTS_FILE: the --json events also appended to a file, one per line, whatever the screen
 * shows (the composite action reads run ids and outcomes from it while the log keeps its groups).
 * Events carry output already redacted of secrets.
 */
function eventsFile(file: string): EventSink {
  let failed = false;
  return (event) => {
    if (failed) return;
    try {
      appendFileSync(file, JSON.stringify(event) + '\n');
    } catch (e) {
      // A file that cannot be written must not stop a run halfway: say so once, go on without it.
      failed = true;
      process.stderr.write(`bg: warning: cannot write BG_EVENTS_FILE ${oneLine(file)}: ${oneLine((e as NodeJS.ErrnoException).code ?? String(e))}\n`);
    }
  };
}

/** Several sinks as one. */
export function fanOut(...sinks: EventSink[]): EventSink {
  return (e) => sinks.forEach((s) => s(e));
}
