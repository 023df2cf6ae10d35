// The one place where the command a host runs is put together from its parts. Outermost first:
//   [secrets read from stdin]            transport/secrets.ts (wraps everything below)
//   library check + `. LIB;`             librarySourced (the installed library of the run's hash)
//   journal line `… && `                 the step's first command only (Journal.inline)
//   process record `…; `                 changing steps (run/sessions.ts recordSession)
//   host environment `export …; `        in the plan's command already (host-model.ts commandPrefix)
//   the plan's command                   short calls of library functions with quoted arguments
import { randomBytes } from 'node:crypto';
import { joinPath, quotePath } from '../plan/quote.js';

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

/** `COMMAND` with the library of `hash` sourced first; exits 125 with LIBRARY_MISSING when it is not installed. */
export function librarySourced(journal: string, hash: string, command: string): string {
  const p = quotePath(libraryPath(journal, hash));
  return `{ [ -r ${p} ] || { echo "${LIBRARY_MISSING} sha256:${hash}" >&2; exit ${LIBRARY_MISSING_EXIT}; }; . ${p}; }; ${command}`;
}

/** A step's command with its journal line (first command of a changing step) and process record. */
export function stepCommand(parts: { journalLine?: string; sessionRecord?: string; command: string }): string {
  return (parts.journalLine ?? '') + (parts.sessionRecord ?? '') + parts.command;
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
