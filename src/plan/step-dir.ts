import type { ActionInput } from './action.js';
import { joinPath, quotePath } from './quote.js';

/**
 * Where a step keeps what its undo needs (previous symlink target, previous .env line, pm2
 * state, progress markers): `<run journal dir>/steps/<index>` on the host. Capture commands
 * write there before `run` executes; undo commands read it, so they are fully concrete in the
 * plan and `bg rollback` can replay them later from plan.json.
 */
export function stepDir(input: Pick<ActionInput<unknown>, 'runDir' | 'stepIndex'>): string {
  return joinPath(input.runDir, `steps/${input.stepIndex}`);
}

/** `sd=<quoted step dir>`: the shell variable every capture and undo script starts with. */
export function stepDirVar(input: Pick<ActionInput<unknown>, 'runDir' | 'stepIndex'>): string {
  return `sd=${quotePath(stepDir(input))}`;
}
