import type { HostStatus } from './outcomes.js';
import type { Phase } from './step-error.js';

export type { HostStatus } from './outcomes.js';

/** Everything a run reports, in order; `--json` prints these one per line. */
export type RunEvent =
  | { type: 'run-start'; host: string; runId: string; playbook: string; steps: number; dryRun: boolean }
  | { type: 'check'; host: string; label: string; ok: boolean; output: string }
  | { type: 'step-start'; host: string; step: number; name: string; action: string }
  | { type: 'command'; host: string; step: number; phase: Phase; cmd: string; exitCode: number; durationMs: number; attempt: number; stdout: string; stderr: string }
  | { type: 'step-done'; host: string; step: number; durationMs: number }
  | { type: 'step-failed'; host: string; step: number; error: string }
  | { type: 'rollback-start'; host: string; steps: number[] }
  | { type: 'undo-done'; host: string; step: number }
  | { type: 'undo-failed'; host: string; step: number; error: string }
  | { type: 'undo-skipped'; host: string; step: number; reason: string }
  | { type: 'run-end'; host: string; runId: string; outcome: HostStatus; exitCode: number; durationMs: number };

export type EventSink = (event: RunEvent) => void;
