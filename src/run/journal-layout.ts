// The journal on a host, defined once: every path bg reads or writes under an inventory host's
// `journal` directory. Pure (no I/O), so the planner may use it as well as run/ and the CLI.
//
//   JOURNAL/seq                the host's run counter (runs are ordered by it, never by a clock)
//   JOURNAL/lock/info.json     the host lock: who holds it (a directory, renamed into place whole)
//   JOURNAL/runs/ID/run.json   the run's header and plan (every step's undo commands)
//   JOURNAL/runs/ID/meta.json  the header alone, for `bg history`
//   JOURNAL/runs/ID/log        one JSON line per event, stamped by the host's clock
//   JOURNAL/runs/ID/seq        the run's number in the host's order
//   JOURNAL/runs/ID/sessions   "PID STARTTIME" of each shell that ran a changing command
//   JOURNAL/runs/ID/steps/N/   what step N's undo needs (captured before it runs)
//   JOURNAL/runs/ID/out/N.MODE/  the output of step N's commands (MODE step or undo), kept for a
//                              look after a lost connection (written by src/remote/step.sh, which
//                              also writes log and sessions under these names)
import { joinPath } from '../plan/quote.js';

/** Names directly under the journal directory. */
export const JOURNAL_FILES = { runs: 'runs', lock: 'lock', seq: 'seq' } as const;

/** Names inside the lock directory. */
export const LOCK_FILES = { info: 'info.json' } as const;

/** Names inside a run's directory. */
export const RUN_FILES = { run: 'run.json', meta: 'meta.json', log: 'log', seq: 'seq', sessions: 'sessions', steps: 'steps', out: 'out' } as const;

export type RunFile = (typeof RUN_FILES)[keyof typeof RUN_FILES];

/** JOURNAL/runs: one directory per run. */
export function runsDir(journal: string): string {
  return joinPath(journal, JOURNAL_FILES.runs);
}

/** JOURNAL/runs/ID. */
export function runDir(journal: string, runId: string): string {
  return joinPath(journal, `${JOURNAL_FILES.runs}/${runId}`);
}

/** A file of a run, relative to JOURNAL/runs (`ID/log`): the key framed reads use. */
export function runEntry(runId: string, file: RunFile): string {
  return `${runId}/${file}`;
}

/** A file in a run's directory. */
export function runFile(dir: string, file: RunFile): string {
  return joinPath(dir, file);
}

/** RUNDIR/steps/N: where step N keeps what its undo needs. */
export function stepDir(dir: string, stepIndex: number): string {
  return joinPath(dir, `${RUN_FILES.steps}/${stepIndex}`);
}

/** JOURNAL/lock. */
export function lockDir(journal: string): string {
  return joinPath(journal, JOURNAL_FILES.lock);
}

/** JOURNAL/seq. */
export function seqFile(journal: string): string {
  return joinPath(journal, JOURNAL_FILES.seq);
}
