// The one place where the command a host runs is put together from its parts. Outermost first:
//   [secrets read from stdin]            transport/secrets.ts (wraps everything below)
//   library check + `. LIB;`             librarySourced (the installed library of the run's hash)
//   `bg_step …` (stepInvocation)          a step: its commands as quoted words; the runner journals
//                                        the step, records its process and runs each command
//   host environment `export …; `        in the plan's command already (host-model.ts commandPrefix)
//   the plan's command                   short calls of library functions with quoted arguments
import { randomBytes } from 'node:crypto';
import { joinPath, quotePath, shellQuote } from '../plan/quote.js';

/** Where the library of `hash` lives on a host: JOURNAL/lib/<sha256>.sh. */
export function libraryPath(journal: string, hash: string): string {
  return joinPath(journal, `lib/${hash}.sh`);
}

/**
 * What a command prints on stderr when the library it needs is not on the host (exit 125); bg then
 * installs it and sends the command again. The marker carries a nonce of this bg process, so that
 * no command of a user's that prints a fixed text and exits 125 is ever taken for it and run twice.
 */
export const LIBRARY_MISSING = `bg-remote-library-missing-${randomBytes(8).toString('hex')}`;
export const LIBRARY_MISSING_EXIT = 125;

/** `COMMAND` with the libraries of `hashes` sourced first, in order; exits 125 with LIBRARY_MISSING (naming the first absent one) when one is not installed. */
export function librarySourced(journal: string, hashes: string[], command: string): string {
  const paths = hashes.map((h) => [h, quotePath(libraryPath(journal, h))] as const);
  const checks = paths.map(([h, p]) => `[ -r ${p} ] || { echo "${LIBRARY_MISSING} sha256:${h}" >&2; exit ${LIBRARY_MISSING_EXIT}; }; `).join('');
  return `{ ${checks}${paths.map(([, p]) => `. ${p}; `).join('')}}; ${command}`;
}

/** One command of a host-side step: its phase, its bound, and for a verify probe the waits before each retry. */
export interface StepEntry {
  phase: 'capture' | 'run' | 'verify' | 'undo' | 'check';
  timeoutMs: number;
  /** Verify only: milliseconds to wait before attempt 2, 3, …; empty: one attempt. */
  delaysMs?: number[];
  cmd: string;
}

/**
 * The call of the host-side step runner (bg_step, src/remote/step.sh) that runs a whole step in
 * one invocation: `bg_step MODE RUNDIR STEP JOURNAL NONCE ENTRY...`, every word quoted.
 */
export function stepInvocation(s: { mode: 'step' | 'undo' | 'checks'; runDir: string; step: number; journal: boolean; nonce: string; entries: StepEntry[] }): string {
  const words = [s.mode, s.mode === 'checks' ? '-' : quotePath(s.runDir), String(s.step), s.journal ? '1' : '0', s.nonce];
  for (const e of s.entries) {
    words.push(e.phase, String(Math.max(1, Math.round(e.timeoutMs))));
    if (e.phase === 'verify') words.push(e.delaysMs?.length ? e.delaysMs.map((d) => Math.max(0, Math.round(d))).join(',') : '-');
    words.push(shellQuote(e.cmd));
  }
  return `bg_step ${words.join(' ')}`;
}

/**
 * Install the library (on stdin) as JOURNAL/lib/<hash>.sh: written to a temporary name, checked
 * with the host's sha256sum, then renamed (atomic: a concurrent bg sees the old state or the whole file).
 */
export function installCommand(journal: string, hash: string): string {
  const dir = quotePath(joinPath(journal, 'lib'));
  return [
    `d=${dir}; mkdir -p "$d" || exit 1`,
    `t="$d/.${hash}.sh.$$"; cat > "$t" || { rm -f "$t"; exit 1; }`,
    `h=$(sha256sum < "$t" | cut -c1-64)`,
    `if [ "$h" != ${hash} ]; then rm -f "$t"; echo "bg: the remote library arrived with sha256:$h, not sha256:${hash}: not installed" >&2; exit 1; fi`,
    `chmod 0644 "$t" && mv -f "$t" "$d/${hash}.sh"`,
  ].join('\n');
}
