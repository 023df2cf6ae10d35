import { z } from 'zod';
import type { ActionDef } from '../action.js';
import { joinPath, quotePath } from '../quote.js';
import { call } from '../sh-lib.js';
import { requireRelease } from './release-common.js';

const params = z.object({ keep: z.number().int().min(1).max(1000).optional() }).strict();

/**
 * Old releases removed from every color's `releases/`: the newest `keep` stay, and so do the one
 * each color's `current` points at and any that an undo not yet run would point a link back at
 * (recorded by link steps in the journal). Nothing to undo: what it removes nothing uses.
 */
export const releasePruneAction: ActionDef<z.output<typeof params>> = {
  name: 'release-prune',
  summary: 'remove old releases, never one a color runs or a journal still needs',
  env: 'none',
  params,
  build({ params: p, host }) {
    const release = requireRelease(host, 'release-prune');
    const keep = p.keep ?? release.keep;
    const names = host.proxy ? host.proxy.colors : Object.keys(host.envs);
    const dirs = names.flatMap((n) => (Object.hasOwn(host.envs, n) ? [host.envs[n]!.dir] : []));
    return {
      mutates: false,
      run: [{ cmd: call('bg_release_prune', quotePath(joinPath(host.journal, 'runs')), String(keep), ...dirs.map(quotePath)), label: `keep ${keep} releases per color, and those in use` }],
      verify: [],
      undoNote: 'pruned releases were used by no color and no journal',
    };
  },
};
