// The words for how a run ended, defined once. Three vocabularies, each with its own readers:
// - HOST_STATUS: a host's outcome in this process (`bg run` report, `--json` run-end events,
//   the GitHub step summary);
// - RUN_END: the detail of the `run-end` line in the journal's log (read back by every later bg,
//   possibly a newer version: these strings are a file format, never reworded);
// - RUN_STATUS: what a recorded run's journal says it did (`bg rollback`), and the words `bg
//   history` and `bg status` show for a run.

/** A host's outcome of `bg run`. */
export const HOST_STATUS = {
  done: 'done',
  rolledBack: 'rolled-back',
  rollbackIncomplete: 'rollback-incomplete',
  failedNoRollback: 'failed-no-rollback',
  preflightFailed: 'preflight-failed',
  notStarted: 'not-started',
} as const;
export type HostStatus = (typeof HOST_STATUS)[keyof typeof HOST_STATUS];

/** The detail of the journal's `run-end` event. */
export const RUN_END = {
  done: 'done',
  rolledBack: 'rolled back',
  rollbackIncomplete: 'rollback incomplete',
  failedNoRollback: 'failed, not rolled back',
} as const;
export type RunEndDetail = (typeof RUN_END)[keyof typeof RUN_END];

/** What a recorded run did, from its journal. */
export const RUN_STATUS = {
  done: 'done',
  rolledBack: 'rolled-back',
  rollbackIncomplete: 'rollback-incomplete',
  failedNoRollback: 'failed, not rolled back',
  interrupted: 'interrupted',
} as const;
export type RunStatus = (typeof RUN_STATUS)[keyof typeof RUN_STATUS];

const BY_END: Record<string, RunStatus> = {
  [RUN_END.done]: RUN_STATUS.done,
  [RUN_END.rolledBack]: RUN_STATUS.rolledBack,
  [RUN_END.rollbackIncomplete]: RUN_STATUS.rollbackIncomplete,
  [RUN_END.failedNoRollback]: RUN_STATUS.failedNoRollback,
};

/**
 * A recorded run's status from its last `run-end` event (undefined: none) and whether steps are
 * left to undo. Nothing left to undo after a failure is rolled back, whatever the detail says (a
 * later `bg rollback` appends its own run-end); no run-end, or a detail bg does not know, is interrupted.
 */
export function statusFromEnd(end: { detail?: string } | undefined, nothingLeft: boolean): RunStatus {
  if (!end) return RUN_STATUS.interrupted;
  const detail = end.detail ?? '';
  if (nothingLeft && detail !== RUN_END.done) return RUN_STATUS.rolledBack;
  // Own keys only: a detail such as `valueOf` (the host writes the log) is no status.
  return Object.hasOwn(BY_END, detail) ? BY_END[detail]! : RUN_STATUS.interrupted;
}

/** The state of one run's journal as read back. */
export const JOURNAL_STATE = { ok: 'ok', noJournal: 'no-journal', corrupt: 'corrupt' } as const;

/** Words `bg history` and `bg status` show for a run without a run-end. */
export const SHOWN = {
  running: 'running',
  noJournal: 'no journal (nothing ran)',
  interrupted: RUN_STATUS.interrupted,
  interruptedHint: 'interrupted (bg rollback can undo it)',
  unreadable: (problem: string) => `unreadable: ${problem}`,
} as const;

/**
 * The outcome shown for a recorded run: its journal's problem, else its last run-end's detail,
 * else running (its lock is held by it), no journal (it never started), or interrupted, with how
 * its last step ended on the host when the run's bg went away (see lastStep).
 */
export function shownOutcome(
  run: { id: string; problem?: string; hasJournal: boolean; lastEnd?: string; events?: ReadonlyArray<{ event: string; step?: number; detail?: string }> },
  runningId: string | undefined,
  opts: { hint?: boolean } = {},
): string {
  if (run.problem) return SHOWN.unreadable(run.problem);
  if (run.lastEnd !== undefined) return run.lastEnd;
  if (runningId === run.id) return SHOWN.running;
  if (!run.hasJournal) return SHOWN.noJournal;
  const step = run.events && lastStep(run.events);
  const base = opts.hint ? SHOWN.interruptedHint : SHOWN.interrupted;
  return step ? `${base}; ${step.words}` : base;
}

export interface LastStep {
  step: number;
  /** What the host journaled: done, failed, started (no outcome yet), and the same for an undo. */
  outcome: 'done' | 'failed' | 'started' | 'undone' | 'undo-failed' | 'undo-started';
  detail?: string;
  /** One line for people. */
  words: string;
}

/**
 * How the last step of a run ended, from the events the host journaled. The host-side step runner
 * journals a step's outcome itself, also when the bg that started it is gone (a dropped
 * connection, a cancelled CI job): this is what a later bg reports instead of "unknown".
 */
export function lastStep(events: ReadonlyArray<{ event: string; step?: number; detail?: string }>): LastStep | undefined {
  const e = [...events].reverse().find((x) => x.step !== undefined && STEP_EVENTS.has(x.event));
  if (!e || e.step === undefined) return undefined;
  const outcome = STEP_EVENTS.get(e.event)!;
  const detail = e.detail;
  const words = {
    done: `step ${e.step} done on the host`,
    failed: `step ${e.step} failed on the host${detail ? ` (${detail})` : ''}`,
    started: `step ${e.step} started, no outcome journaled (still running, or the host stopped it)`,
    undone: `undo of step ${e.step} done on the host`,
    'undo-failed': `undo of step ${e.step} failed on the host${detail ? ` (${detail})` : ''}`,
    'undo-started': `undo of step ${e.step} started, no outcome journaled`,
  }[outcome];
  return { step: e.step, outcome, ...(detail !== undefined ? { detail } : {}), words };
}

const STEP_EVENTS = new Map<string, LastStep['outcome']>([
  ['step-start', 'started'],
  ['step-done', 'done'],
  ['step-failed', 'failed'],
  ['undo-start', 'undo-started'],
  ['undone', 'undone'],
  ['undo-failed', 'undo-failed'],
]);
