import type { z } from 'zod';
import type { ResolvedEnv, ResolvedHost } from './host-model.js';
import type { Command, Download, Gate, Probe, Upload } from './types.js';

/** What an action builds for one step: the commands, how to verify them, how to undo them. */
export interface StepBody {
  mutates: boolean;
  /** Read-only checks for the plan's pre-flight (deduplicated across steps); give each a label. */
  preflight?: Command[];
  /** Checks bg judges from command output (e.g. linting pending migrations). */
  gates?: Gate[];
  capture?: Command[];
  run: Command[];
  verify: Probe[];
  undo?: Command[];
  /** Read-only commands printing what the undo would discard (see PlanStep.discardCheck). */
  discardCheck?: Command[];
  undoNote?: string;
  /** See PlanStep.undoLast. */
  undoLast?: boolean;
  /** A file of the host copied to the machine running bg once the step is verified (see PlanStep.download). */
  download?: Download;
  /**
   * More files copied off the host after this step (backup of an env with several databases): the
   * executor copies one file per step, so the planner gives each its own read-only step right
   * after this one (its run checks the file is there; then the copy).
   */
  moreDownloads?: Download[];
  /** Files bg streams to the host before the run (see Plan.uploads). */
  uploads?: Upload[];
  /** The playbook ends after this step, for this reason (the later steps are not planned). */
  endsPlaybook?: string;
}

export interface ActionInput<P> {
  params: P;
  env?: ResolvedEnv;
  host: ResolvedHost;
  runId: string;
  /** This run's journal directory on the host (unquoted host path). */
  runDir: string;
  stepIndex: number;
}

/** A built-in action: a pure builder from parameters to commands. It never does I/O. */
export interface ActionDef<P = unknown> {
  name: string;
  summary: string;
  /** `required`: the step must name an env; `none`: it must not. */
  env: 'required' | 'optional' | 'none';
  /** `with:` fields rendered as shell text (values quoted); others are rendered raw. */
  shellTemplates?: readonly string[];
  params: z.ZodType<P>;
  build(input: ActionInput<P>): StepBody;
}

/** Thrown by a builder for input it cannot plan; the planner locates it in the playbook. */
export class PlanProblem extends Error {
  constructor(
    message: string,
    /** Path below the step, e.g. ['with', 'url'] or ['env']. */
    readonly field: Array<string | number> = [],
  ) {
    super(message);
  }
}

/** The env an action needs, with the field it must have, or a located problem. */
export function requireEnvField<K extends keyof ResolvedEnv>(
  env: ResolvedEnv | undefined,
  field: K,
): NonNullable<ResolvedEnv[K]> {
  if (!env) throw new PlanProblem('this action needs `env:`', ['env']);
  const value = env[field];
  if (value === undefined || value === null)
    throw new PlanProblem(`env \`${env.name}\` has no \`${String(field)}\` in the inventory`, ['env']);
  return value as NonNullable<ResolvedEnv[K]>;
}
