import { z } from 'zod';
import { PlanProblem, type ActionDef } from '../action.js';
import { duration } from '../duration.js';
import { shellQuote } from '../quote.js';
import { toolPresent } from '../preflight.js';

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
  })
  .strict();

// Checks "dotted.path" "value" argument pairs against a JSON body on stdin (two arguments each: a key
// may hold `=`); node is on every host that runs a Node app.
const JSON_CHECK = `let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{let b;try{b=JSON.parse(s)}catch{console.error("bg: body is not JSON: "+s.slice(0,200));process.exit(1)}const q=process.argv.slice(1);for(let i=0;i<q.length;i+=2){const k=q[i],v=q[i+1];const got=k.split(".").reduce((o,p)=>o==null?o:o[p],b);if(String(got)!==v){console.error("bg: "+k+" is "+JSON.stringify(got)+", expected "+JSON.stringify(v));process.exit(1)}}})`;

/** HTTP GET performed on the host (the app may listen on loopback only), retried with backoff. */
export const healthAction: ActionDef<z.output<typeof params>> = {
  name: 'health',
  summary: 'HTTP GET from the host until it answers 2xx (and the JSON fields match)',
  env: 'optional',
  params,
  build({ params: p, env }) {
    const url = p.url ?? env?.health;
    if (!url) throw new PlanProblem(env ? `env \`${env.name}\` has no \`health\` URL; set it or give \`with.url\`` : 'give `env:` or `with.url`', ['with', 'url']);
    const seconds = Math.max(1, Math.round(p.timeout / 1000));
    const lines = [
      `url=${shellQuote(url)}`,
      'body=$(mktemp) && trap \'rm -f "$body"\' EXIT',
      // --url: a URL starting with `-` is not an option; -g: no {a,b} or [1-3] globbing; HTTP only.
      `code=$(curl -sS -g --proto =http,https --max-time ${seconds} -o "$body" -w '%{http_code}' --url "$url") || exit 1`,
      'case "$code" in 2??) ;; *) echo "bg: HTTP $code from $url" >&2; head -c 300 "$body" >&2; exit 1 ;; esac',
    ];
    if (p.json) {
      const pairs = Object.entries(p.json).map(([k, v]) => `${shellQuote(k)} ${shellQuote(String(v))}`);
      // `--`: a pair starting with `-` (a JSON key) is an argument, not a node option.
      lines.push(`node -e ${shellQuote(JSON_CHECK)} -- ${pairs.join(' ')} < "$body"`);
    }
    return {
      mutates: false,
      preflight: [toolPresent('curl'), ...(p.json ? [toolPresent('node')] : [])],
      run: [],
      verify: [
        {
          cmd: lines.join('\n'),
          label: `GET ${url} answers 2xx`,
          retry: { attempts: p.retries, intervalMs: p.interval, factor: p.backoff, maxIntervalMs: p.max_interval },
        },
      ],
      undoNote: 'read-only',
    };
  },
};
