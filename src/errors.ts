// Exit codes are a public contract (DESIGN.md): scripts and CI pipelines branch on them.
export const ExitCode = {
  ok: 0,
  stepFailed: 1,
  badInput: 2,
  locked: 3,
  rollbackIncomplete: 4,
  unreachable: 5,
  /** A bug in bg itself (sysexits EX_SOFTWARE): never 0, never a code a script reads as an outcome. */
  internal: 70,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** One problem found in an input file, located for a person to fix. */
export interface Problem {
  file: string;
  line?: number;
  column?: number;
  /** Dotted path of the field, e.g. `steps.2.with.retries`. */
  field?: string;
  message: string;
}

export function formatProblem(p: Problem): string {
  const where = p.line ? `${p.file}:${p.line}:${p.column ?? 1}` : p.file;
  return p.field ? `${where}: ${p.field}: ${p.message}` : `${where}: ${p.message}`;
}

/** Base class: every error bg raises knows its exit code. */
export class BgError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad usage, inventory, playbook or template: exit 2, nothing ran. */
export class InputError extends BgError {
  constructor(readonly problems: Problem[], headline = 'invalid input') {
    super(`${headline}:\n${problems.map((p) => '  ' + formatProblem(p)).join('\n')}`, ExitCode.badInput);
  }
}

/** Usage errors that have no file behind them (unknown flag value, missing argument). */
export class UsageError extends BgError {
  constructor(message: string) {
    super(message, ExitCode.badInput);
  }
}

/** The host could not be reached or authenticated: exit 5, nothing changed. */
export class ConnectionError extends BgError {
  constructor(
    readonly host: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    // A connection that died mid-run is not one that could not be made: say which.
    super(/^connection lost/.test(reason) ? `${host}: ${reason}` : `cannot connect to ${host}: ${reason}`, ExitCode.unreachable, options);
  }
}

/** Another run holds the host's lock: exit 3. */
export class LockedError extends BgError {
  constructor(readonly host: string, readonly holder: string) {
    super(`${host} is locked by another run: ${holder}`, ExitCode.locked);
  }
}

/** The one line a bug in bg gets; the stack only when BG_DEBUG=1 (a person reporting it can ask for it). */
export function formatInternalError(e: unknown, env: NodeJS.ProcessEnv = process.env): string {
  const message = e instanceof Error ? e.message : String(e);
  const line = `bg: internal error: ${firstLine(message)} (a bug in bg; BG_DEBUG=1 shows the stack)\n`;
  if (env.BG_DEBUG !== '1') return line;
  return `${line}${e instanceof Error && e.stack ? e.stack : String(e)}\n`;
}

function firstLine(s: string): string {
  const line = s.split('\n', 1)[0]!.trim();
  return line || 'unknown error';
}
