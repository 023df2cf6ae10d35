import { secretVariable } from '../plan/template.js';
import { commandBound, type CommandResult, type ExecOptions, type Transport } from './transport.js';

// Environment variables whose values must never be printed, whatever a command echoes.
const ALWAYS_SECRET = ['BG_SSH_KEY', 'BG_SSH_PASSPHRASE'];

/**
 * Replace every known secret value in a text with ***, however short: a 3-digit pin is redacted
 * everywhere it appears (also where the same digits mean something else: safe beats pretty).
 * Longest first, in one pass, so that a secret inside another is never half-shown and a `***`
 * just written is never matched again.
 */
export function redactor(values: string[]): (text: string) => string {
  const list = [...new Set(values.filter((v) => v.length > 0))].sort((a, b) => b.length - a.length);
  if (list.length === 0) return (t) => t;
  const pattern = new RegExp(list.map(escapeRegExp).join('|'), 'g');
  return (text) => text.replace(pattern, '***');
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function environmentSecrets(env = process.env): string[] {
  return ALWAYS_SECRET.flatMap((k) => (env[k] ? [env[k]!, ...env[k]!.split('\n').filter((l) => l.length >= 16)] : []));
}

/**
 * Secrets reach the host on the command's standard input, read into shell variables before the
 * command runs: never in a command line (visible in `ps`), a plan or a journal. Whatever comes
 * back is redacted.
 */
export function withSecrets(inner: Transport, secrets: Record<string, string>, extraRedact: string[] = environmentSecrets()): Transport {
  const names = Object.keys(secrets);
  const redact = redactor([...Object.values(secrets), ...extraRedact]);
  return {
    host: inner.host,
    kind: inner.kind,
    connect: () => inner.connect(),
    close: () => inner.close(),
    redact: (text) => redact(inner.redact ? inner.redact(text) : text),
    boundFor: (o) => inner.boundFor?.(o) ?? commandBound(o),
    async exec(command: string, options: ExecOptions = {}): Promise<CommandResult> {
      const used = names.filter((n) => command.includes(`$${secretVariable(n)}`));
      let cmd = command;
      let stdin = options.stdin;
      if (used.length) {
        cmd = `${used.map((n) => `IFS= read -r ${secretVariable(n)} &&`).join(' ')} {\n${command}\n}`;
        stdin = used.map((n) => secrets[n]).join('\n') + '\n' + (options.stdin ?? '');
      }
      const r = await inner.exec(cmd, { ...options, stdin });
      // Framed output carries encoded payloads: its reader decodes, then redacts (see ExecOptions.framed).
      return { ...r, stdout: options.framed ? r.stdout : redact(r.stdout), stderr: redact(r.stderr) };
    },
  };
}
