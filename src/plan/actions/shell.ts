import { z } from 'zod';
import type { ActionDef } from '../action.js';
import { duration } from '../duration.js';
import { quotePath } from '../quote.js';

const params = z
  .object({
    command: z.string({ error: '`with.command` is required' }).min(1),
    verify: z.string().min(1).optional(),
    undo: z.string().min(1).optional(),
    timeout: duration.optional(),
    /** Read-only commands (e.g. a report) are not journaled or undone. */
    mutates: z.boolean().default(true),
  })
  .strict();

/** A command of the user's, run in the env's dir when the step has an env. */
export const shellAction: ActionDef<z.output<typeof params>> = {
  name: 'shell',
  summary: 'run a command of yours, with optional verify and undo commands',
  env: 'optional',
  shellTemplates: ['command', 'verify', 'undo'],
  params,
  build({ params: p, env }) {
    const inDir = (cmd: string) => (env ? `cd ${quotePath(env.dir)} && ${cmd}` : cmd);
    return {
      mutates: p.mutates,
      run: [{ cmd: inDir(p.command), timeoutMs: p.timeout }],
      verify: p.verify ? [{ cmd: inDir(p.verify) }] : [],
      undo: p.undo ? [{ cmd: inDir(p.undo) }] : [],
      undoNote: p.undo ? undefined : p.mutates ? 'no `undo:` given: this step is not undone' : 'read-only',
    };
  },
};
