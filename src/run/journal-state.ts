import type { Plan, PlanStep } from '../plan/types.js';
import type { JournalEvent } from './journal.js';
import { parseLogLine } from './journal-schema.js';
import { statusFromEnd, type RunStatus } from './outcomes.js';

export type { RunStatus } from './outcomes.js';

export interface LoggedEvent {
  t: string;
  event: JournalEvent;
  step?: number;
  detail?: string;
}

export interface RunState {
  status: RunStatus;
  startedAt?: string;
  endedAt?: string;
  /** Steps that changed the host and are not undone yet, newest first. */
  toUndo: PlanStep[];
  failedStep?: number;
}

/**
 * Parse the log's JSON lines. A torn line (power cut or full disk mid-write) is skipped: its event
 * never became durable, so nothing that waited for it ran. Any other bad line (`null`, a field of
 * the wrong type, an unknown event) is damage: reported with its line number, never guessed past.
 */
export function parseLog(text: string): { events: LoggedEvent[]; problem?: string } {
  const events: LoggedEvent[] = [];
  const lines = text.split('\n');
  for (const [i, line] of lines.entries()) {
    if (!line.trim()) continue;
    const r = parseLogLine(line);
    if (r.problem) return { events, problem: `line ${i + 1}: ${r.problem}` };
    if (r.event) events.push(r.event as LoggedEvent);
  }
  return { events };
}

/** What a run did, from its plan and log: pure, so that rollback's decisions are testable. */
export function runState(plan: Plan, events: LoggedEvent[]): RunState {
  const started = new Set<number>();
  const undone = new Set<number>();
  let end: LoggedEvent | undefined;
  let failedStep: number | undefined;
  for (const e of events) {
    if (e.event === 'step-start' && e.step !== undefined) started.add(e.step);
    if (e.event === 'undone' && e.step !== undefined) undone.add(e.step);
    if (e.event === 'step-failed') failedStep = e.step;
    if (e.event === 'run-end') end = e;
  }
  const toUndo = plan.steps.filter((s) => s.mutates && started.has(s.index) && !undone.has(s.index)).reverse();
  // The last run-end wins: a later `bg rollback` appends its own.
  return { status: statusFromEnd(end, toUndo.length === 0), startedAt: events[0]?.t, endedAt: end?.t, toUndo, failedStep };
}
