import { z } from 'zod';
import { PlanProblem, type ActionDef } from '../action.js';
import { duration } from '../duration.js';
import { backendOf } from '../haproxy-config.js';
import { pm2App, pm2AppKnown } from '../pm2-sh.js';
import { toolPresent } from '../preflight.js';
import { quotePath, shellQuote } from '../quote.js';
import { call } from '../sh-lib.js';
import { stepDir } from '../step-dir.js';
import { proxyWords, publicUrl, requireProxy } from './proxy-common.js';

const params = z
  .object({
    /** Tries (1 s apart) for the target's own health URL before giving up: the gate. */
    health_tries: z.number().int().min(1).max(600).default(10),
    /** The target's pm2 pids and restart count must not change for this long (0: skip). */
    stable_for: duration.default(2000),
    /** Commands run on the host before the switch, e.g. against the preview port; any failure stops it. */
    smoke: z.array(z.string().min(1)).default([]),
    /** Path requested through the live port after the switch (default: the path of the env's health URL). */
    path: z.string().regex(/^\/[^\s]*$/, 'a path starting with /').optional(),
    /** How many fresh requests through the live port must all come from the target. */
    check_requests: z.number().int().min(1).max(100).default(5),
  })
  .strict();

const seconds = (ms: number) => String(Math.round(ms) / 1000);

/**
 * Move live traffic to the step's env (a color of the host's proxy): gate it (its own health URL,
 * pm2 online and stable, smoke commands), `set map` on HAProxy's admin socket (live and preview
 * swap in one command), the map file rewritten atomically so that a restarted proxy comes back
 * the same, then every request through the live port must come from the target. The old color
 * keeps running. Undo: the map as it was before (both runtime and file).
 */
export const switchAction: ActionDef<z.output<typeof params>> = {
  name: 'switch',
  summary: 'move live traffic to a color through the proxy (gated, verified, undone by switching back)',
  env: 'required',
  shellTemplates: ['smoke'],
  params,
  build(input) {
    const { params: p, env, host } = input;
    const proxy = requireProxy(host, 'switch');
    if (!env || !proxy.colors.includes(env.name)) throw new PlanProblem(`env \`${env?.name}\` is not a color of the proxy (colors: ${proxy.colors.join(', ')})`, ['env']);
    if (!env.health) throw new PlanProblem(`env \`${env.name}\` has no \`health\` URL: the switch is gated on it`, ['env']);
    if (!env.app) throw new PlanProblem(`env \`${env.name}\` has no \`app\`: the switch checks its pm2 process`, ['env']);
    const app = pm2App(env.app, ['env'], `env ${env.name}'s app in the inventory`);
    const other = proxy.colors[0] === env.name ? proxy.colors[1] : proxy.colors[0];
    const w = proxyWords(proxy);
    const sd = quotePath(stepDir(input));
    const path = p.path ?? new URL(env.health).pathname;
    const liveUrl = publicUrl(proxy, proxy.live_port, path);
    const header = proxy.color_header ? shellQuote(proxy.color_header) : undefined;
    return {
      mutates: true,
      preflight: [
        toolPresent('node'),
        toolPresent('curl'),
        pm2AppKnown(app),
        { cmd: call('bg_proxy_socket_live', w.socket, w.map), label: `HAProxy answers on ${proxy.socket}` },
      ],
      capture: [{ cmd: call('bg_proxy_capture', sd, w.socket, w.map), label: 'record the live color' }],
      run: [
        { cmd: call('bg_switch_gate', shellQuote(env.health), String(p.health_tries), shellQuote(app), seconds(p.stable_for)), label: `gate: ${env.name} healthy, ${app} online and stable` },
        ...p.smoke.map((cmd, i) => ({ cmd, label: `smoke ${i + 1}` })),
        { cmd: call('bg_proxy_switch', sd, w.socket, w.map, backendOf(env.name), backendOf(other)), label: `live -> ${env.name} (set map; map file rewritten)` },
      ],
      verify: [
        {
          cmd: call('bg_proxy_check_live', shellQuote(liveUrl), shellQuote(env.name), String(p.check_requests), header),
          label: `requests through ${liveUrl} come from ${env.name}`,
          retry: { attempts: 3, intervalMs: 200, factor: 1, maxIntervalMs: 200 },
        },
      ],
      undo: [{ cmd: call('bg_proxy_undo_switch', sd, w.socket, w.map), label: 'live back to the color recorded before' }],
    };
  },
};
