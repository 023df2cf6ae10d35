import { z } from 'zod';
import type { ActionDef } from '../action.js';
import { joinPath, quotePath, shellQuote } from '../quote.js';
import { call } from '../sh-lib.js';
import { stepDir } from '../step-dir.js';

const params = z
  .object({
    /** The link to create or re-point; relative paths are in the env's dir. */
    link: z.string({ error: '`with.link` is required' }).min(1),
    /** What it points to, stored as written (a relative target is relative to the link's directory). */
    target: z.string({ error: '`with.target` is required' }).min(1),
    /** Where a regular file found at `link` is kept (default `LINK.OLD`); relative paths are in the env's dir. */
    keep_as: z.string().min(1).optional(),
  })
  .strict();

/**
 * Atomic re-point: the new link is made under a temporary name and renamed over LINK (`mv -T`),
 * so LINK never disappears. A regular file at LINK is first hard-linked to KEEP, so it never
 * disappears either (same inode: a process that has it open is unaffected).
 */
export const symlinkAction: ActionDef<z.output<typeof params>> = {
  name: 'symlink',
  summary: 'atomically point a symlink at a target; a file in the way is kept aside',
  env: 'optional',
  params,
  build(input) {
    const { params: p, env } = input;
    const at = (path: string) => (env ? joinPath(env.dir, path) : path);
    const link = at(p.link);
    const keep = p.keep_as ? at(p.keep_as) : `${link}.OLD`;
    // The target is stored as written (`./-x` would be another link text), so every command that
    // takes it, or a previous target read back with readlink, gets it after `--` (src/remote/links.sh).
    const target = p.target.startsWith('-') ? shellQuote(p.target) : quotePath(p.target);
    const sd = quotePath(stepDir(input));
    const [l, k] = [quotePath(link), quotePath(keep)];
    const capture = call('bg_link_capture', sd, l, k);
    const run = call('bg_link_switch', l, target, k);
    const verify = call('bg_link_check', sd, l, target, k);
    const undo = call('bg_link_undo', sd, l, k);
    return {
      mutates: true,
      capture: [{ cmd: capture, label: `record what ${link} is now` }],
      run: [{ cmd: run, label: `${link} -> ${p.target}` }],
      verify: [{ cmd: verify, label: `readlink ${link} = ${p.target}` }],
      undo: [{ cmd: undo, label: `put back what ${link} was` }],
    };
  },
};
