// What the host-side step runner (bg_step, src/remote/step.sh) does, played in TypeScript for the
// scripted fake host: each command of the step is answered by the fake's rules as if it had been
// sent alone, and the runner's journal lines are "commands" too, so that a test can fail them.
// The real runner is tested against a real sh (test/unit/step-runner-sh.test.ts) and end to end.
import type { ExecOptions } from '../../src/transport/transport.js';

/** The words of a shell command line made of plain and single-quoted words (what stepInvocation writes). */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      cur += line.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '\\') {
      cur += line[++i];
      inWord = true;
    } else if (c === ' ' || c === '\n') {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

export interface FakeAnswer {
  exitCode: number;
  stdout?: string;
  stderr?: string;
  /** The connection died during this command. */
  lost?: boolean;
}

/** How the fake host answers one command of the step (journal lines included), as a separate command would be. */
export type Answer = (command: string, options: ExecOptions) => Promise<FakeAnswer>;

const b64 = (s: string | undefined) => Buffer.from(s ?? '').toString('base64');

/**
 * Play `bg_step MODE RUNDIR STEP JOURNAL NONCE ENTRY...` (the tail of `command` from `bg_step`).
 * Returns its stdout, and whether the connection was lost on the way.
 */
export async function playStep(command: string, answer: Answer, options: ExecOptions): Promise<{ stdout: string; stderr?: string; lost: boolean }> {
  const words = shellWords(command.slice(command.indexOf('bg_step ')));
  const [, mode, , step, journal, nonce] = words;
  const out: string[] = [];
  const emit = (...w: Array<string | number>) => out.push([nonce, ...w].join(' '));
  const [begin, ok, bad] = mode === 'undo' ? ['undo-start', 'undone', 'undo-failed'] : ['step-start', 'step-done', 'step-failed'];
  const journalLine = async (event: string, detail?: string) =>
    answer(`{"event":"${event}","step":${step}${detail ? `,"detail":${JSON.stringify(detail)}` : ''}}`, {});
  if (journal === '1') {
    const j = await journalLine(begin!);
    if (j.lost) return { stdout: out.join('\n'), lost: true };
    if (j.exitCode !== 0) {
      emit('end', 'failed', 'journal', 0, 1, 'nojournal');
      // The runner's own stderr: what the failed write said.
      return { stdout: out.join('\n'), stderr: j.stderr, lost: false };
    }
  }
  emit('start', 1);
  let i = 6;
  let n = 0;
  let failed = 0;
  while (i < words.length) {
    const phase = words[i]!;
    n++;
    let delays: number[] = [];
    let cmd: string;
    if (phase === 'verify') {
      delays = words[i + 2] === '-' ? [] : words[i + 2]!.split(',').map(Number);
      cmd = words[i + 3]!;
      i += 4;
    } else {
      cmd = words[i + 2]!;
      i += 3;
    }
    let attempt = 1;
    let rc = 0;
    let how = 'exit';
    for (;;) {
      if (options.signal?.aborted) {
        rc = 130;
        how = 'INT';
        emit('skipped', phase, n, attempt, 'INT');
        break;
      }
      const r = await answer(cmd, options);
      if (r.lost) return { stdout: out.join('\n'), lost: true };
      rc = r.exitCode;
      how = options.signal?.aborted && rc !== 0 ? 'INT' : 'exit';
      emit('cmd', phase, n, attempt, rc, 1, how, b64(r.stdout), b64(r.stderr));
      if (rc === 0 || !delays.length || options.signal?.aborted) break;
      const wait = delays.shift()!;
      emit('wait', phase, n, attempt, wait);
      await sleep(wait, options.signal);
      attempt++;
    }
    if (rc !== 0 && mode === 'checks') failed++;
    else if (rc !== 0) {
      await journalLine(bad!, `${phase} command ${n}: ${how} ${rc} after ${attempt} attempt(s)`);
      emit('end', 'failed', phase, n, rc, how);
      return { stdout: out.join('\n'), lost: false };
    }
  }
  if (failed) {
    emit('end', 'failed', '-', 0, failed, 'exit');
    return { stdout: out.join('\n'), lost: false };
  }
  if (journal === '1') await journalLine(ok!);
  emit('end', 'ok', '-', 0, 0, 'exit');
  return { stdout: out.join('\n'), lost: false };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });
}
