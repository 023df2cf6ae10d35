import { randomBytes } from 'node:crypto';
import { BgError, ExitCode } from '../errors.js';
import { call } from '../plan/sh-lib.js';
import type { Transport } from '../transport/transport.js';

/**
 * Reading several host files in one round trip without in-band markers a file could contain.
 *
 * Journal files hold user values (vars, step names, playbook names): any fixed separator such as
 * `@@log` can appear in them. Each read therefore uses a fresh random boundary (128 bits), which no
 * file on the host can know in advance, and the parser checks that the output has exactly the
 * records and the terminator the host printed: a boundary inside the data, or output cut short,
 * is an error, never a silently different split.
 *
 * The host side is src/remote/framed.sh: `bg_framed B FUNCTION ARG...` runs a reader function
 * (bg_runs_list, bg_read_files) that prints one record per file with bg_frame_rec (the file's
 * content, or that it is missing or unreadable) or bg_frame_has (only whether it exists), then the
 * terminator. Keys are one word without whitespace: fixed names, or names the reader checked.
 */

export type RecordState = 'present' | 'missing' | 'unreadable';

export interface FramedRecord {
  key: string;
  state: RecordState;
  /** The file's exact content when present (for bg_frame_has: empty). */
  content: string;
}

const STATE: Record<string, RecordState> = { '+': 'present', '-': 'missing', '!': 'unreadable' };

export function newBoundary(): string {
  return `bg-${randomBytes(16).toString('hex')}`;
}

/** The call of a framed read: reader function `fn` with its (quoted) arguments, behind `boundary`. */
export function framedCommand(boundary: string, fn: string, ...args: string[]): string {
  return call('bg_framed', boundary, fn, ...args);
}

/**
 * Split output into records. Throws when the output is not exactly what bg_framed prints: missing
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
export async function framedRead(transport: Transport, what: string, fn: string, ...args: string[]): Promise<FramedRecord[]> {
  const boundary = newBoundary();
  const r = await transport.exec(framedCommand(boundary, fn, ...args), { timeoutMs: 60_000 });
  const fail = (why: string) => new BgError(`cannot read ${what} on ${transport.host}: ${why}`, ExitCode.stepFailed);
  if (r.exitCode !== 0) throw fail(r.stderr.trim().split('\n').slice(-3).join(' / ') || `exit ${r.exitCode}${r.timedOut ? ' (timed out after 60s)' : ''}`);
  try {
    return parseFramed(r.stdout, boundary);
  } catch (e) {
    throw fail((e as Error).message);
  }
}
