import { z } from 'zod';
import type { ActionDef } from '../action.js';
import { duration } from '../duration.js';
import { pm2App } from '../pm2-sh.js';
import { toolPresent } from '../preflight.js';
import { joinPath, quotePath, shellQuote } from '../quote.js';
import { call } from '../sh-lib.js';
import { stepDir } from '../step-dir.js';
import { releaseApp, releasePaths, requireRelease } from './release-common.js';

const params = z.object({ wait: duration.default(30_000) }).strict();

/**
 * The color's pm2 app on the release, through the `current` link: `DIR/current/SCRIPT` with cwd
 * DIR (pm2 resolves a symlinked cwd it is started from; a script path through the link stays one,
 * so every reload runs what the link points at). An app already defined that way is reloaded with
 * `--update-env`; one defined otherwise (the first release) is deleted and started through the
 * link, keeping its exec mode and instances. Undone after every other undo of the run (the link
 * is back by then): restarted on the old release, or re-defined as it was.
 */
export const releaseStartAction: ActionDef<z.output<typeof params>> = {
  name: 'release-start',
  summary: "start or reload the color's pm2 app on the release, through its current link, with --update-env",
  env: 'required',
  params,
  build(input) {
    const { params: p, env, host } = input;
    const release = requireRelease(host, 'release-start');
    const app = shellQuote(pm2App(releaseApp(env), ['env'], `env ${env!.name}'s app in the inventory`));
    const paths = releasePaths(env!);
    const script = joinPath(paths.current, release.script);
    const sd = quotePath(stepDir(input));
    const wait = String(Math.max(1, Math.ceil(p.wait / 1000)));
    return {
      mutates: true,
      preflight: [toolPresent('node'), toolPresent('pm2', '--version')],
      capture: [{ cmd: call('bg_release_app_capture', sd, app), label: `record how pm2 runs ${env!.app}` }],
      run: [{ cmd: call('bg_release_app_start', sd, app, quotePath(script), quotePath(paths.dir), wait), label: `${env!.app}: ${script} (cwd ${paths.dir}), --update-env` }],
      verify: [
        { cmd: call('bg_pm2_check_restarted', sd, app), label: `${env!.app} online with a new pid` },
        { cmd: call('bg_release_app_check', app, quotePath(script)), label: `pm2 runs ${env!.app} from ${script}` },
      ],
      undo: [{ cmd: call('bg_release_app_undo', sd, app, wait), label: `${env!.app} as it was (on what the link points at again)` }],
      undoLast: true,
    };
  },
};
