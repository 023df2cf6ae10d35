// A bounded HTTP load: keep-alive clients sending a mix of GETs and POSTs to the example app (or
// the proxy in front of it) on 127.0.0.1, for tests and benchmarks. Every request is counted; a
// failure is anything but a 2xx answer (a reset, a timeout, a 5xx); every POST answered 201 is an
// acknowledged write, kept with its id and the color that answered, so a test can check that none
// is missing afterwards. With `timeline`, every request's times and answer are kept too (which
// answers came during a maintenance window).
import { Agent, request } from 'node:http';

export interface LoadOptions {
  /** http://127.0.0.1:PORT (loopback only: this is a test client, not a load tool for others' hosts). */
  baseUrl: string;
  /** Parallel keep-alive clients (default 8). */
  clients?: number;
  /** Stops by itself after this many requests in all (default 200 000). */
  maxRequests?: number;
  /** Stops by itself after this long (default 60 s). */
  maxDurationMs?: number;
  /** Share of POSTs, 0..1 (default 0.5). */
  postShare?: number;
  /** Per-request timeout (default 10 s: the proxy may hold a request for ~5 s). */
  requestTimeoutMs?: number;
  /** Pause between two requests of one client (default 0). */
  pauseMs?: number;
  /** Keep every request's times and answer in `LoadReport.timeline` (default false). */
  timeline?: boolean;
}

/** One request: when it was sent and answered (Date.now(), ms), how, and by whom. */
export interface Answered {
  t0: number;
  t1: number;
  post: boolean;
  /** HTTP status, 0 when no answer came (a reset, a refused connection, a timeout). */
  status: number;
  /** A POST's entry description (unique per write of this load). */
  description?: string;
  /** `error` is the error code when status is 0. */
  error?: string;
  /** HAProxy's X-Bg-Color: a color, `maintenance` for the maintenance backend, '' when none. */
  bgColor: string;
  retryAfter: string;
}

export interface AckedWrite {
  id: number;
  /** The entry's description, unique per write of this load. */
  description: string;
  /** The color that answered (X-App-Color), or '' when the app sends none. */
  color: string;
}

export interface LoadReport {
  sent: number;
  failed: number;
  failures: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  acked: AckedWrite[];
  /** Requests answered, by color (X-App-Color). */
  byColor: Record<string, number>;
  durationMs: number;
  /** With `timeline: true`: every request, in the order they were answered. */
  timeline: Answered[];
}

export interface Load {
  /** Requests answered so far, by color. */
  readonly byColor: Readonly<Record<string, number>>;
  readonly sent: number;
  /** Stop sending, wait for the requests in flight, report. */
  stop(): Promise<LoadReport>;
  readonly done: Promise<LoadReport>;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Start the load; it ends by stop() or by its own bounds. */
export function startLoad(opts: LoadOptions): Load {
  const base = new URL(opts.baseUrl);
  if (base.hostname !== '127.0.0.1' && base.hostname !== 'localhost' && base.hostname !== '[::1]')
    throw new Error(`the load client sends to loopback only, not ${base.hostname}`);
  const maxRequests = opts.maxRequests ?? 200_000;
  const deadline = Date.now() + (opts.maxDurationMs ?? 60_000);
  const postShare = opts.postShare ?? 0.5;
  const timeout = opts.requestTimeoutMs ?? 10_000;
  const agent = new Agent({ keepAlive: true, maxSockets: opts.clients ?? 8 });
  const latencies: number[] = [];
  const failures: Record<string, number> = {};
  const acked: AckedWrite[] = [];
  const byColor: Record<string, number> = {};
  const timeline: Answered[] = [];
  let sent = 0;
  let failed = 0;
  let stopping = false;
  const started = Date.now();
  const tag = Math.random().toString(36).slice(2, 8);
  let seq = 0;
  // ~200-byte bodies, each description unique: a test finds every acknowledged write by content.
  const bodyOf = (description: string) => JSON.stringify({ description: `${description}-${'x'.repeat(150)}`, minutes: 1 });

  const fail = (why: string) => {
    failed++;
    failures[why] = (failures[why] ?? 0) + 1;
  };

  const one = (post: boolean): Promise<void> =>
    new Promise((resolve) => {
      const description = `load-${tag}-${++seq}`;
      const body = bodyOf(description);
      const t0 = performance.now();
      const at0 = Date.now();
      const note = (status: number, headers: Record<string, string | string[] | undefined>, error?: string) => {
        if (opts.timeline)
          timeline.push({ t0: at0, t1: Date.now(), post, status, ...(post ? { description: `${description}-${'x'.repeat(150)}` } : {}), ...(error ? { error } : {}), bgColor: String(headers['x-bg-color'] ?? ''), retryAfter: String(headers['retry-after'] ?? '') });
      };
      const req = request(
        {
          host: base.hostname,
          port: base.port,
          agent,
          method: post ? 'POST' : 'GET',
          path: post ? '/api/entries' : '/api/entries/count',
          headers: post ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {},
          timeout,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            latencies.push(performance.now() - t0);
            const color = String(res.headers['x-app-color'] ?? '');
            byColor[color] = (byColor[color] ?? 0) + 1;
            const status = res.statusCode ?? 0;
            note(status, res.headers);
            if (status < 200 || status > 299) fail(`HTTP ${status}`);
            else if (post) {
              try {
                acked.push({ id: (JSON.parse(Buffer.concat(chunks).toString()) as { id: number }).id, description: `${description}-${'x'.repeat(150)}`, color });
              } catch {
                fail('bad 201 body');
              }
            }
            resolve();
          });
          res.on('error', (e) => (note(0, {}, (e as NodeJS.ErrnoException).code ?? e.message), fail((e as NodeJS.ErrnoException).code ?? e.message), resolve()));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => {
        latencies.push(performance.now() - t0);
        note(0, {}, (e as NodeJS.ErrnoException).code ?? e.message);
        fail((e as NodeJS.ErrnoException).code ?? e.message);
        resolve();
      });
      if (post) req.end(body);
      else req.end();
    });

  const client = async (k: number) => {
    let i = k;
    while (!stopping && sent < maxRequests && Date.now() < deadline) {
      sent++;
      await one((i++ * 0.618033) % 1 < postShare);
      if (opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs));
    }
  };

  const done = Promise.all(Array.from({ length: opts.clients ?? 8 }, (_, k) => client(k))).then(() => {
    agent.destroy();
    const sorted = [...latencies].sort((a, b) => a - b);
    const r = (x: number) => Math.round(x * 10) / 10;
    return { sent, failed, failures, p50Ms: r(percentile(sorted, 50)), p99Ms: r(percentile(sorted, 99)), maxMs: r(sorted.at(-1) ?? 0), acked, byColor: { ...byColor }, durationMs: Date.now() - started, timeline };
  });
  return {
    get byColor() {
      return byColor;
    },
    get sent() {
      return sent;
    },
    stop: () => {
      stopping = true;
      return done;
    },
    done,
  };
}
