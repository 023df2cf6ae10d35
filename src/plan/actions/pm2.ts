import { z } from 'zod';
import { PlanProblem, type ActionDef } from '../action.js';
import type { Probe } from '../types.js';
import { duration } from '../duration.js';
import { pm2App, pm2AppKnown } from '../pm2-sh.js';
import { quotePath, shellQuote } from '../quote.js';
import { call } from '../sh-lib.js';
import { stepDir } from '../step-dir.js';

const params = z
  .object({
    op: z.enum(['restart', 'reload', 'stop', 'start']).default('restart'),
    /** `--update-env`: the app gets the environment of the shell pm2 runs in (restart, reload, start). */
    update_env: z.boolean().default(false),
    /** The pm2 app name; default: the env's `app`. */
    app: z.string().min(1).optional(),
    /** How long the app may take to come online (or to stop). */
    wait: duration.default(30_000),
    /** After it is online, its pids and restart count must not change for this long (0: skip). */
    stable_for: duration.default(2000),
  })
  .strict();

const seconds = (ms: number) => String(Math.round(ms) / 1000);

/**
 * restart / reload / stop / start an env's pm2 app. Verified by pm2 itself (`pm2 jlist`): online
 * with new pids and no restart during `stable_for` (a crash loop makes pm2's restart count
 * climb), or stopped. Undo: stop <-> start; a restart or reload is undone by restarting once more
 * after every other undo of the run (so that the app runs on the files and environment they put
 * back), unless one of those undos already restarted it.
 */
export const pm2Action: ActionDef<z.output<typeof params>> = {
  name: 'pm2',
  summary: "restart, reload, stop or start an env's pm2 app, verified by pm2's process list",
  env: 'required',
  params,
  build(input) {
    const { params: p, env } = input;
    const given = p.app ?? env?.app;
    if (!given) throw new PlanProblem(`env \`${env?.name}\` has no \`app\` (pm2 name) in the inventory; set it or give \`with.app\``, ['env']);
    const app = p.app ? pm2App(p.app, ['with', 'app'], 'with.app') : pm2App(given, ['env'], `env ${env?.name}'s app in the inventory`);
    if (p.update_env && p.op === 'stop') throw new PlanProblem('`update_env` does not apply to `op: stop`', ['with', 'update_env']);
    const sd = quotePath(stepDir(input));
    const a = shellQuote(app);
    const flag = p.update_env ? '--update-env' : undefined;
    const flags = flag ? ` ${flag}` : '';
    const waitS = String(Math.ceil(p.wait / 1000));

    const capture = call('bg_pm2_capture', sd, a);
    const run = call('bg_pm2_op', p.op, a, flag);
    const attempts = Math.max(1, Math.ceil(p.wait / 500));
    const retry = { attempts, intervalMs: 500, factor: 1, maxIntervalMs: 500 };

    const verify: Probe[] = [];
    if (p.op === 'stop') verify.push({ cmd: call('bg_pm2_check_stopped', a), label: `${app} is stopped`, retry });
    else {
      verify.push({ cmd: call('bg_pm2_check_restarted', sd, a), label: `${app} is online with a new pid`, retry });
      if (p.stable_for > 0)
        verify.push({ cmd: call('bg_pm2_check_stable', a, seconds(p.stable_for)), label: `${app} stays online for ${seconds(p.stable_for)} s (pid and restart count unchanged)` });
    }

    const again = call('bg_pm2_undo_restart', sd, a, waitS, flag);
    const undoFor: Record<typeof p.op, string | undefined> = {
      stop: call('bg_pm2_undo_stop', sd, a, waitS),
      start: call('bg_pm2_undo_start', sd, a),
      restart: again,
      reload: again,
    };
    const undo = undoFor[p.op];
    return {
      mutates: true,
      preflight: [pm2AppKnown(app)],
      capture: [{ cmd: capture, label: `record ${app}'s pm2 state` }],
      run: [{ cmd: run, label: `pm2 ${p.op} ${app}${flags}` }],
      verify,
      undo: undo ? [{ cmd: undo, label: p.op === 'stop' ? `start ${app} if it was online` : p.op === 'start' ? `stop ${app} if it was not online` : `restart ${app} again, after the other undos` }] : [],
      // A restart is undone by another one, once the rest of the run is undone.
      undoLast: p.op === 'restart' || p.op === 'reload',
    };
  },
};
