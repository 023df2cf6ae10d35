import { z } from 'zod';
import { PlanProblem, type ActionDef } from '../action.js';
import { duration } from '../duration.js';
import { shellQuote } from '../quote.js';
import { toolPresent } from '../preflight.js';
import { call } from '../sh-lib.js';

const params = z
  .object({
    url: z.string().url().optional(),
    retries: z.number().int().min(1).max(1000).default(10),
    interval: duration.default(1000),
    backoff: z.number().min(1).max(10).default(1.5),
    max_interval: duration.default(10_000),
    timeout: duration.default(5000),
    /** Fields of the JSON body that must equal these values, e.g. `{ status: ok }`. */
    json: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
    /** An env without a `health` URL (and no `with.url`): say so and check nothing, instead of refusing the plan (bg restore's playbook). */
    skip_without_url: z.boolean().default(false),
  })
  .strict();

/** HTTP GET performed on the host (the app may listen on loopback only), retried with backoff. */
export const healthAction: ActionDef<z.output<typeof params>> = {
  name: 'health',
  summary: 'HTTP GET from the host until it answers 2xx (and the JSON fields match)',
  env: 'optional',
  params,
  build({ params: p, env }) {
    const url = p.url ?? env?.health;
    if (!url && env && p.skip_without_url) {
      const note = `env ${env.name} has no health URL in the inventory: nothing to check`;
      return { mutates: false, run: [{ cmd: call('printf', "'%s\\n'", shellQuote(note)), label: note }], verify: [], undoNote: 'read-only' };
    }
    if (!url) throw new PlanProblem(env ? `env \`${env.name}\` has no \`health\` URL; set it or give \`with.url\`` : 'give `env:` or `with.url`', ['with', 'url']);
    const seconds = Math.max(1, Math.round(p.timeout / 1000));
    // Each JSON field is a KEY VALUE pair of arguments (a key may hold `=`; src/remote/http.sh).
    const pairs = Object.entries(p.json ?? {}).flatMap(([k, v]) => [shellQuote(k), shellQuote(String(v))]);
    const check = call('bg_http_check', shellQuote(url), String(seconds), ...pairs);
    return {
      mutates: false,
      preflight: [toolPresent('curl'), ...(p.json ? [toolPresent('node')] : [])],
      run: [],
      verify: [
        {
          cmd: check,
          label: `GET ${url} answers 2xx`,
          retry: { attempts: p.retries, intervalMs: p.interval, factor: p.backoff, maxIntervalMs: p.max_interval },
        },
      ],
      undoNote: 'read-only',
    };
  },
};
