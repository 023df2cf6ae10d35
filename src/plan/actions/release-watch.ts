import { z } from 'zod';
import { PlanProblem, type ActionDef } from '../action.js';
import { duration } from '../duration.js';
import { backendOf } from '../haproxy-config.js';
import { shellQuote } from '../quote.js';
import { call } from '../sh-lib.js';
import { proxyWords, requireProxy } from './proxy-common.js';

const params = z
  .object({
    /** How long to watch after the switch (0: do not). */
    window: duration.default(0),
    /** How often the proxy's counters are read. */
    interval: duration.default(1000),
    /** Percent of 5xx responses above which live goes back. */
    max_error_rate: z.coerce.number().min(0).max(100).default(5),
    /** Responses needed before the rate counts. */
    min_requests: z.coerce.number().int().min(1).default(20),
  })
  .strict();

/**
 * After a switch, watch the live traffic of the step's color for a window: HAProxy's counters of
 * its backend (`show stat`: 5xx among the responses since the watch began). Past the threshold it
 * switches live back to the other color at once (set map, map file) and fails, so that the run's
 * rollback puts the released color back too. Read-only otherwise.
 */
export const releaseWatchAction: ActionDef<z.output<typeof params>> = {
  name: 'release-watch',
  summary: "watch the released color's 5xx rate after the switch; switch back by itself past a threshold",
  env: 'required',
  params,
  build({ params: p, env, host }) {
    const proxy = requireProxy(host, 'release-watch');
    if (!env || !proxy.colors.includes(env.name)) throw new PlanProblem(`env \`${env?.name}\` is not a color of the proxy (colors: ${proxy.colors.join(', ')})`, ['env']);
    const other = proxy.colors[0] === env.name ? proxy.colors[1] : proxy.colors[0];
    if (p.window === 0) return { mutates: false, run: [{ cmd: `echo 'no watch window (window: 0)'`, label: 'no watch' }], verify: [], undoNote: 'read-only' };
    const w = proxyWords(proxy);
    const secs = (ms: number) => String(Math.max(1, Math.round(ms / 1000)));
    const cmd = call('bg_release_watch', w.socket, w.map, backendOf(env.name), backendOf(other), secs(p.window), String(Math.max(0.1, p.interval / 1000)), shellQuote(String(p.max_error_rate)), String(p.min_requests));
    return {
      mutates: false,
      preflight: [{ cmd: call('bg_proxy_counts', w.socket, backendOf(env.name)), label: `HAProxy's counters of ${backendOf(env.name)} can be read` }],
      run: [{ cmd, label: `watch ${env.name} for ${secs(p.window)} s: back to ${other} above ${p.max_error_rate}% 5xx`, timeoutMs: p.window + 60_000 }],
      verify: [],
      undoNote: 'read-only (when it switches back, the switch step undone next agrees)',
    };
  },
};
