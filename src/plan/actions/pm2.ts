import { z } from 'zod';
import { PlanProblem, type ActionDef } from '../action.js';
import type { Probe } from '../types.js';
import { duration } from '../duration.js';
import { BG_PM2_PROCS, BG_PM2_WAIT_ONLINE, pm2App, pm2AppKnown } from '../pm2-sh.js';
import { shellQuote } from '../quote.js';
import { script, shLib } from '../sh-lib.js';
import { stepDirVar } from '../step-dir.js';

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
    const head = [stepDirVar(input), `app=${shellQuote(app)}`].join('; ');
    const flags = p.update_env ? ' --update-env' : '';

    const capture = script(
      head,
      shLib(BG_PM2_PROCS),
      'mkdir -p "$sd"',
      'procs=$(bg_pm2_procs "$app") || exit 1',
      `[ -n "$procs" ] || { echo "bg: pm2 knows no app named $app (bg does not create pm2 apps: start it once with pm2 start)" >&2; exit 1; }`,
      `printf '%s\\n' "$procs" > "$sd/pm2-before"`,
    );
    const run = script(head, `pm2 ${p.op} "$app"${flags} >/dev/null`, `echo "pm2 ${p.op} $app${flags}: done"`);
    const attempts = Math.max(1, Math.ceil(p.wait / 500));
    const retry = { attempts, intervalMs: 500, factor: 1, maxIntervalMs: 500 };

    const verify: Probe[] = [];
    if (p.op === 'stop') {
      verify.push({
        cmd: script(
          head,
          shLib(BG_PM2_PROCS),
          'procs=$(bg_pm2_procs "$app") || exit 1',
          `bad=$(printf '%s\\n' "$procs" | awk '$2 != "stopped"')`,
          `[ -z "$bad" ] || { echo "bg: $app is not stopped yet (pid status restarts: $bad)" >&2; exit 1; }`,
          'echo "$app stopped"',
        ),
        label: `${app} is stopped`,
        retry,
      });
    } else {
      verify.push({
        cmd: script(
          head,
          shLib(BG_PM2_PROCS),
          // The pids that were online before: each process must now have another one.
          `old=" $(awk '$2 == "online" { print $1 }' "$sd/pm2-before" | tr '\\n' ' ')"`,
          'procs=$(bg_pm2_procs "$app") || exit 1',
          `[ -n "$procs" ] || { echo "bg: pm2 lists no process of $app" >&2; exit 1; }`,
          `bad=$(printf '%s\\n' "$procs" | BG_OLD="$old" awk '$2 != "online" || $1 == 0 || index(ENVIRON["BG_OLD"], " " $1 " ") { print }')`,
          `[ -z "$bad" ] || { echo "bg: $app is not online with a new pid yet (pid status restarts: $bad)" >&2; exit 1; }`,
          // What the step left: its undo restarts again only if nothing else has since.
          `printf '%s\\n' "$procs" > "$sd/pm2-after"`,
          `echo "$app online, pid $(printf '%s\\n' "$procs" | awk '{ print $1 }' | tr '\\n' ' ')"`,
        ),
        label: `${app} is online with a new pid`,
        retry,
      });
      if (p.stable_for > 0)
        verify.push({
          cmd: script(
            head,
            shLib(BG_PM2_PROCS),
            'a=$(bg_pm2_procs "$app") || exit 1',
            `sleep ${seconds(p.stable_for)}`,
            'b=$(bg_pm2_procs "$app") || exit 1',
            `[ "$a" = "$b" ] || { echo "bg: $app did not stay up: within ${seconds(p.stable_for)} s pm2 went from [$(echo $a)] to [$(echo $b)] (pid status restarts): it restarts after starting" >&2; exit 1; }`,
            `! printf '%s\\n' "$b" | grep -qv ' online ' || { echo "bg: $app is not online: $(echo $b)" >&2; exit 1; }`,
            `echo "$app stayed online for ${seconds(p.stable_for)} s, restart count unchanged"`,
          ),
          label: `${app} stays online for ${seconds(p.stable_for)} s (pid and restart count unchanged)`,
        });
    }

    const wasOnline = `grep -q ' online ' "$sd/pm2-before"`;
    const again = script(
      head,
      shLib(BG_PM2_WAIT_ONLINE),
      '[ -f "$sd/pm2-before" ] || { echo "nothing to undo: the step never started"; exit 0; }',
      'now=$(bg_pm2_procs "$app") || exit 1',
      // Pids other than the ones this step left: an earlier undo (env-set's) restarted it already.
      `if [ -f "$sd/pm2-after" ] && [ -n "$now" ] && [ "$(awk '{ print $1 }' "$sd/pm2-after")" != "$(printf '%s\\n' "$now" | awk '{ print $1 }')" ]; then echo "$app was restarted since this step: nothing to do"; exit 0; fi`,
      `pm2 restart "$app"${flags} >/dev/null || exit 1`,
      `bg_pm2_wait_online "$app" ${Math.ceil(p.wait / 1000)} || exit 1`,
      'echo "restarted $app again: it runs on what the other undos put back"',
    );
    const undoFor: Record<typeof p.op, string | undefined> = {
      stop: script(
        head,
        shLib(BG_PM2_WAIT_ONLINE),
        '[ -f "$sd/pm2-before" ] || { echo "nothing to undo: the step never started"; exit 0; }',
        `${wasOnline} || { echo "$app was not online before: left stopped"; exit 0; }`,
        'pm2 start "$app" >/dev/null || exit 1',
        `bg_pm2_wait_online "$app" ${Math.ceil(p.wait / 1000)} || exit 1`,
        'echo "started $app again"',
      ),
      start: script(
        head,
        '[ -f "$sd/pm2-before" ] || { echo "nothing to undo: the step never started"; exit 0; }',
        `! ${wasOnline} || { echo "$app was already online (pm2 start restarted it): nothing to undo"; exit 0; }`,
        'pm2 stop "$app" >/dev/null || exit 1',
        'echo "stopped $app again"',
      ),
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
