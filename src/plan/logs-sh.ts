// The read-only calls behind `bg logs` (src/remote/logs.sh): where pm2 writes an app's logs (from
// `pm2 jlist`, never starting a daemon), and bounded reads of those files.
import { quotePath, shellQuote } from './quote.js';
import { call } from './sh-lib.js';

/** Exit 3 with a message when pm2 (its daemon) or the app is not there; else the JSON of its log files. */
export function logPathsCommand(app: string): string {
  return call('bg_log_paths', shellQuote(app));
}

/** `@@size BYTES` (-1: no such file), then the last `lines` lines of the file as it was at that size, each cut at `maxLine` bytes. */
export function tailCommand(file: string, lines: number, maxLine: number): string {
  return call('bg_log_tail', quotePath(file), String(Math.trunc(lines)), String(Math.trunc(maxLine)));
}

/**
 * One header line `@@size BYTES ROTATED SKIPPED`, then what was written after byte `offset`, then `@@end` (at
 * most `max` bytes: with more, SKIPPED bytes are skipped and only the newest `max` read). A file
 * smaller than `offset` was rotated or truncated: ROTATED is 1 and it is read from its start.
 */
export function pollCommand(file: string, offset: number, max: number): string {
  return call('bg_log_poll', quotePath(file), String(Math.trunc(offset)), String(Math.trunc(max)));
}
