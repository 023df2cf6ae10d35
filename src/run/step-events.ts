// The lines the host-side step runner (bg_step, src/remote/step.sh) prints, parsed. Only lines
// that start with this step's nonce count: a login shell's own output is ignored. The commands'
// output travels base64-encoded inside them, so no command can print a line that passes for one.

export type StepEvent =
  | { kind: 'start'; pid: number }
  | { kind: 'cmd'; phase: string; n: number; attempt: number; exitCode: number; durationMs: number; how: string; stdout: string; stderr: string }
  | { kind: 'wait'; phase: string; n: number; attempt: number; delayMs: number }
  | { kind: 'skipped'; phase: string; n: number; attempt: number; how: string }
  | { kind: 'end'; ok: boolean; phase: string; n: number; exitCode: number; how: string }
  | { kind: 'prelude-failed' };

const int = (s: string | undefined): number | undefined => (s !== undefined && /^[0-9]+$/.test(s) ? Number(s) : undefined);
const b64 = (s: string | undefined): string | undefined => (s !== undefined && /^[A-Za-z0-9+/]*=*$/.test(s) ? Buffer.from(s, 'base64').toString('utf8') : undefined);

/** One event line, or undefined when the line is not one of this step's events (or is malformed). */
export function parseStepEvent(line: string, nonce: string): StepEvent | undefined {
  const w = line.replace(/\r$/, '').split(' ');
  if (w[0] !== nonce) return undefined;
  switch (w[1]) {
    case 'start': {
      const pid = int(w[2]);
      return pid === undefined ? undefined : { kind: 'start', pid };
    }
    case 'cmd': {
      const [n, attempt, exitCode, durationMs] = [int(w[3]), int(w[4]), int(w[5]), int(w[6])];
      // An empty output makes an empty last word: "… exit  " splits into '' fields.
      const [stdout, stderr] = [b64(w[8] ?? ''), b64(w[9] ?? '')];
      if (n === undefined || attempt === undefined || exitCode === undefined || durationMs === undefined || stdout === undefined || stderr === undefined || !w[2] || !w[7]) return undefined;
      return { kind: 'cmd', phase: w[2], n, attempt, exitCode, durationMs, how: w[7], stdout, stderr };
    }
    case 'wait': {
      const [n, attempt, delayMs] = [int(w[3]), int(w[4]), int(w[5])];
      if (n === undefined || attempt === undefined || delayMs === undefined || !w[2]) return undefined;
      return { kind: 'wait', phase: w[2], n, attempt, delayMs };
    }
    case 'skipped': {
      const [n, attempt] = [int(w[3]), int(w[4])];
      if (n === undefined || attempt === undefined || !w[2]) return undefined;
      return { kind: 'skipped', phase: w[2], n, attempt, how: w[5] ?? '' };
    }
    case 'prelude-failed':
      return w.length === 2 ? { kind: 'prelude-failed' } : undefined;
    case 'end': {
      const [n, exitCode] = [int(w[4]), int(w[5])];
      if ((w[2] !== 'ok' && w[2] !== 'failed') || n === undefined || exitCode === undefined || !w[3]) return undefined;
      return { kind: 'end', ok: w[2] === 'ok', phase: w[3], n, exitCode, how: w[6] ?? '' };
    }
  }
  return undefined;
}
