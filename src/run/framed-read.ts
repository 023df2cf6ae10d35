import { randomBytes } from 'node:crypto';
import { BgError, ExitCode } from '../errors.js';
import type { Transport } from '../transport/transport.js';

/**
 * Reading several host files in one round trip without in-band markers a file could contain.
 *
 * Journal files hold user values (vars, step names, playbook names): any fixed separator such as
 * `@@log` can appear in them. Each read therefore uses a fresh random boundary (128 bits), which no
 * file on the host can know in advance, and the parser checks that the output has exactly the
 * records and the terminator the script printed: a boundary inside the data, or output cut short,
 * is an error, never a silently different split.
 *
 * The script body calls `bg_rec KEY FILE` (the file's content, or that it is missing or
 * unreadable) and `bg_has KEY FILE` (only whether it exists). KEY must be one word without
 * whitespace: callers use fixed names or names they checked in the shell.
 */

export type RecordState = 'present' | 'missing' | 'unreadable';

export interface FramedRecord {
  key: string;
  state: RecordState;
  /** The file's exact content when present (for bg_has: empty). */
  content: string;
}

const STATE: Record<string, RecordState> = { '+': 'present', '-': 'missing', '!': 'unreadable' };

/** The shell functions, with the boundary in `$B`; put before the body. */
function prelude(boundary: string): string {
  return [
    `B=${boundary}`,
    `bg_rec() { if [ -e "$2" ]; then printf '\\n%s %s +\\n' "$B" "$1"; cat -- "$2" 2>/dev/null || printf '\\n%s %s !\\n' "$B" "$1"; else printf '\\n%s %s -\\n' "$B" "$1"; fi; }`,
    `bg_has() { if [ -e "$2" ]; then printf '\\n%s %s +\\n' "$B" "$1"; else printf '\\n%s %s -\\n' "$B" "$1"; fi; }`,
  ].join('\n');
}

export function newBoundary(): string {
  return `bg-${randomBytes(16).toString('hex')}`;
}

/** Wrap a body so that its records are framed by `boundary` and the output ends with a terminator. */
export function framedScript(body: string, boundary: string): string {
  // The body runs in a subshell: an `exit` inside it still lets the terminator be printed.
  return `${prelude(boundary)}\n(\n${body}\n)\nprintf '\\n%s .\\n' "$B"`;
}

/**
 * Split output into records. Throws when the output is not exactly what the script prints: missing
 * terminator (output cut short) or text outside records. A record whose key repeats (a `cat`
 * that failed half-way prints a second header) keeps the last state: unreadable.
 */
export function parseFramed(stdout: string, boundary: string): FramedRecord[] {
  const parts = stdout.split(`\n${boundary} `);
  if (parts[0] !== '') throw new Error(`unexpected output before the first record: ${JSON.stringify(parts[0]!.slice(0, 80))}`);
  const last = parts.at(-1)!;
  if (parts.length < 2 || last.replace(/\n$/, '') !== '.') throw new Error('the output was cut short (no terminator)');
  const records = new Map<string, FramedRecord>();
  for (const part of parts.slice(1, -1)) {
    const nl = part.indexOf('\n');
    const head = nl < 0 ? part : part.slice(0, nl);
    const m = /^(\S+) ([+!-])$/.exec(head);
    if (!m) throw new Error(`malformed record header ${JSON.stringify(head.slice(0, 80))}`);
    const state = STATE[m[2]!]!;
    const prev = records.get(m[1]!);
    if (prev && prev.state !== 'present') throw new Error(`record ${m[1]} appears twice`);
    records.set(m[1]!, { key: m[1]!, state, content: state === 'present' && nl >= 0 ? part.slice(nl + 1) : '' });
  }
  return [...records.values()];
}

/** Run a framed read on a host; a failed or malformed read is a clear error naming the host and what was read. */
export async function framedRead(transport: Transport, body: string, what: string): Promise<FramedRecord[]> {
  const boundary = newBoundary();
  const r = await transport.exec(framedScript(body, boundary), { timeoutMs: 60_000 });
  const fail = (why: string) => new BgError(`cannot read ${what} on ${transport.host}: ${why}`, ExitCode.stepFailed);
  if (r.exitCode !== 0) throw fail(r.stderr.trim().split('\n').slice(-3).join(' / ') || `exit ${r.exitCode}${r.timedOut ? ' (timed out after 60s)' : ''}`);
  try {
    return parseFramed(r.stdout, boundary);
  } catch (e) {
    throw fail((e as Error).message);
  }
}
