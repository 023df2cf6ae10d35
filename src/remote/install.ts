// Every command bg sends to a host runs with the remote library sourced (see assemble.ts). The
// library is installed on the host once per content hash: a command finds it there (no extra
// round trip), and only when it is missing is it installed (one round trip) and the command,
// which did not start, sent again.
import { commandBound, type CommandResult, type ExecOptions, type Transport } from '../transport/transport.js';
import { installCommand, librarySourced, LIBRARY_MISSING, LIBRARY_MISSING_EXIT, libraryPath } from './assemble.js';
import { library, type Library } from './library.js';

/** A transport whose commands have the library sourced. `journal` is the host's journal root. */
export function withLibrary(inner: Transport, journal: string, lib: Library = library()): Transport {
  let installing: Promise<CommandResult> | undefined;
  // A host where the library cannot be installed (read-only journal, no sha256sum) gets it inline.
  let inline = false;
  const install = () => (installing ??= inner.exec(installCommand(journal, lib.hash), { stdin: lib.text, timeoutMs: 60_000, timeoutSource: 'installing the remote library' }));
  return {
    host: inner.host,
    kind: inner.kind,
    connect: () => inner.connect(),
    close: () => inner.close(),
    redact: inner.redact && ((text) => inner.redact!(text)),
    boundFor: (o) => inner.boundFor?.(o) ?? commandBound(o),
    async exec(command: string, options: ExecOptions = {}): Promise<CommandResult> {
      const hash = options.library ?? lib.hash;
      if (inline && hash === lib.hash) return inner.exec(`${lib.text}\n${command}`, options);
      // An earlier run's library is sourced after this bg's: its functions are the ones its commands
      // call, and the host-side step runner (bg_step, step.sh) comes from this bg.
      const hashes = hash === lib.hash ? [hash] : [lib.hash, hash];
      const r = await inner.exec(librarySourced(journal, hashes, command), options);
      const absent = missing(r);
      if (!absent) return r;
      if (absent !== lib.hash)
        return { ...r, stderr: `bg: the remote library sha256:${hash} that this run used is not on ${inner.host} (${libraryPath(journal, hash)}), and this bg carries sha256:${lib.hash}; run the bg version that made the run, or undo by hand` };
      const installed = await install();
      if (installed.exitCode !== 0) inline = true;
      if (!inline) return inner.exec(librarySourced(journal, hashes, command), options);
      // Not installable here: this bg's library inline, then the run's installed one, if any.
      return inner.exec(`${lib.text}\n${hash === lib.hash ? command : librarySourced(journal, [hash], command)}`, options);
    },
  };
}

// The marker (with this process's nonce) as the last line: the command did not start. Lines before
// it are the login shell's own noise (a .bashrc that prints on every SSH command, e.g. pyenv's).
// Returns the hash that is missing, or undefined.
const missing = (r: CommandResult): string | undefined => {
  if (r.exitCode !== LIBRARY_MISSING_EXIT) return undefined;
  const last = r.stderr.trimEnd().split('\n').pop() ?? '';
  return last.startsWith(`${LIBRARY_MISSING} sha256:`) ? last.slice(`${LIBRARY_MISSING} sha256:`.length).trim() : undefined;
};

/** Whether the library of `hash` is on the host, or can be put there (it is this bg's own). */
export async function libraryAvailable(t: Transport, hash: string): Promise<{ ok: true } | { ok: false; message: string }> {
  const r = await t.exec('true', { library: hash });
  return r.exitCode === 0 ? { ok: true } : { ok: false, message: r.stderr.trim() || `exit ${r.exitCode}` };
}
