import { z } from 'zod';
import type { ActionDef } from '../action.js';
import { quotePath, shellQuote } from '../quote.js';
import { call } from '../sh-lib.js';
import { stepDir } from '../step-dir.js';
import { releaseId, releasePaths, requireRelease } from './release-common.js';

const params = z.object({}).strict();

/**
 * The color's `current` link re-pointed at this run's release atomically (`mv -T` of a new link:
 * the symlink action's shell). Undo: the link as it was (the previous release, or no link).
 */
export const releaseLinkAction: ActionDef<z.output<typeof params>> = {
  name: 'release-link',
  summary: "point the color's current link at the release (atomic; undone by pointing it back)",
  env: 'required',
  params,
  build(input) {
    requireRelease(input.host, 'release-link');
    const paths = releasePaths(input.env!);
    const sd = quotePath(stepDir(input));
    const [link, keep] = [quotePath(paths.current), quotePath(`${paths.current}.OLD`)];
    const target = shellQuote(`releases/${releaseId(input.runId)}`);
    return {
      mutates: true,
      capture: [{ cmd: call('bg_link_capture', sd, link, keep), label: `record what ${paths.current} is now` }],
      run: [{ cmd: call('bg_link_switch', link, target, keep), label: `${paths.current} -> releases/${releaseId(input.runId)}` }],
      verify: [{ cmd: call('bg_link_check', sd, link, target, keep), label: `readlink ${paths.current} = releases/${releaseId(input.runId)}` }],
      undo: [{ cmd: call('bg_link_undo', sd, link, keep), label: `put back what ${paths.current} was` }],
    };
  },
};
