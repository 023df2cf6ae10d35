import type { PlanStep } from './types.js';

/**
 * How big one command may be. A host runs every command as `sh -c COMMAND` (locally, and by sshd
 * for an SSH exec request), and Linux refuses a single argument over MAX_ARG_STRLEN = 128 KiB
 * (32 pages, NUL included) with E2BIG: the command never starts and ssh reports "exited 255".
 * bg adds its own wrappers to a command (journal, session record, secrets on stdin), so a command
 * of the plan gets 124 KiB; a value can never be larger than that either.
 */
export const MAX_ARG_STRLEN = 128 * 1024;
export const MAX_COMMAND_BYTES = MAX_ARG_STRLEN - 4 * 1024;
export const MAX_VALUE_BYTES = MAX_COMMAND_BYTES;

export function formatBytes(n: number): string {
  return n >= 1024 ? `${(n / 1024).toFixed(n % 1024 ? 1 : 0)} KiB (${n} bytes)` : `${n} bytes`;
}

/** "run command 1 is 130.0 KiB …" for every command of a step too big for a host to start. */
export function oversizeCommands(step: Pick<PlanStep, 'capture' | 'run' | 'verify' | 'undo' | 'discardCheck'>): string[] {
  const found: string[] = [];
  const groups = { capture: step.capture, run: step.run, verify: step.verify, undo: step.undo, 'discard check': step.discardCheck ?? [] };
  for (const [what, commands] of Object.entries(groups))
    commands.forEach((c, i) => {
      const bytes = Buffer.byteLength(c.cmd);
      if (bytes > MAX_COMMAND_BYTES)
        found.push(`its ${what} command${commands.length > 1 ? ` ${i + 1}` : ''} is ${formatBytes(bytes)}: over the ${formatBytes(MAX_COMMAND_BYTES)} a host's shell accepts as one command (Linux MAX_ARG_STRLEN is 128 KiB); pass big data in a file instead`);
    });
  return found;
}
