import { z } from 'zod';
import type { ActionDef, StepBody } from '../action.js';
import { MAINTENANCE_BACKEND } from '../haproxy-config.js';
import { toolPresent } from '../preflight.js';
import { quotePath, shellQuote } from '../quote.js';
import { call } from '../sh-lib.js';
import { stepDir } from '../step-dir.js';
import { proxyWords, publicUrl } from './proxy-common.js';

const params = z
  .object({
    /** `begin` opens the window (the public ports answer the maintenance 503), `end` closes it (traffic back to the color live before). */
    op: z.enum(['begin', 'end']),
    /** Path requested through the live port to check the window's state (default: the path of the first color's health URL, else `/`). */
    path: z.string().regex(/^\/[^\s]*$/, 'a path starting with /').optional(),
    /** How many fresh requests through the live port the check sends. */
    check_requests: z.number().int().min(1).max(100).default(3),
  })
  .strict();

/**
 * A maintenance window, for changes the running version cannot survive. With a proxy, `begin`
 * routes both public ports to HAProxy's maintenance backend (a 503 with Retry-After and the page)
 * through the admin socket's map, as a switch does, and the map file keeps it across a restart;
 * `end` routes them back to the colors recorded at `begin` and reports how long the window lasted.
 * Without a proxy nothing can answer for the stopped apps: both only record the window's times.
 * Undo: the map as it was before the step (the window's start in the run's journal stays).
 */
export const maintenanceAction: ActionDef<z.output<typeof params>> = {
  name: 'maintenance',
  summary: 'open or close a maintenance window: the public ports answer 503 (Retry-After, a page) through the proxy meanwhile',
  env: 'none',
  params,
  build(input) {
    const { params: p, host } = input;
    const runDir = quotePath(input.runDir);
    const sd = quotePath(stepDir(input));
    const proxy = host.proxy;
    if (!proxy) {
      // Nothing changes for users here: the window's times go in the run's journal directory only.
      return p.op === 'begin'
        ? { mutates: false, run: [{ cmd: call('bg_maint_begin_direct', runDir), label: 'record the start of the maintenance window (no proxy: connections are refused meanwhile)' }], verify: [] }
        : { mutates: false, run: [{ cmd: call('bg_maint_end_direct', runDir, sd), label: 'the maintenance window ends: its length' }], verify: [] };
    }
    const w = proxyWords(proxy);
    const health = host.envs[proxy.colors[0]]?.health;
    const url = publicUrl(proxy, proxy.live_port, p.path ?? (health ? new URL(health).pathname : '/'));
    const liveUrl = shellQuote(url);
    const common: Pick<StepBody, 'mutates' | 'capture' | 'undo'> = {
      mutates: true,
      capture: [{ cmd: call('bg_proxy_capture', sd, w.socket, w.map), label: 'record where live and preview route now' }],
      undo: [{ cmd: call('bg_proxy_undo_switch', sd, w.socket, w.map), label: 'live and preview routed back as recorded before' }],
    };
    if (p.op === 'begin') {
      return {
        ...common,
        preflight: [toolPresent('curl'), { cmd: call('bg_maint_ready', w.socket, w.map), label: `HAProxy on ${proxy.socket} has the maintenance backend, no window open` }],
        run: [{ cmd: call('bg_maint_begin', runDir, sd, w.socket, w.map), label: `live and preview -> ${MAINTENANCE_BACKEND} (set map; map file rewritten)` }],
        verify: [
          {
            cmd: call('bg_maint_check', liveUrl, String(p.check_requests), String(proxy.maintenance.retry_after)),
            label: `requests through ${url} get the maintenance 503`,
            retry: { attempts: 3, intervalMs: 200, factor: 1, maxIntervalMs: 200 },
          },
        ],
      };
    }
    return {
      ...common,
      preflight: [toolPresent('curl')],
      run: [{ cmd: call('bg_maint_end', runDir, sd, w.socket, w.map), label: 'live and preview back to the colors they routed to before the window; its length' }],
      verify: [
        {
          cmd: call('bg_maint_check_back', runDir, liveUrl, String(p.check_requests), proxy.color_header ? shellQuote(proxy.color_header) : undefined),
          label: `requests through ${url} come from the color live before the window`,
          retry: { attempts: 3, intervalMs: 200, factor: 1, maxIntervalMs: 200 },
        },
      ],
    };
  },
};
