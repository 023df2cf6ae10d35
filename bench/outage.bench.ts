// Issue 13: what clients see during phase2 and an env restart, with and without HAProxy in front
// (`npm run bench -- outage`). The example app as BLUE and GREEN under a real pm2 (fork mode), bg on
// the `local` host, 16 keep-alive clients (half GET, half POST) on the live port: BLUE's own port
// without the proxy; with it, HAProxy's live port after `bg run cutover` (measured too).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'vitest';
import { bg } from '../test/harness/cli.js';
import { deployBlueGreen, freePort, inventoryDocument, type BlueGreen } from '../test/harness/pm2.js';
import { startLoad, type LoadReport } from '../test/harness/load-client.js';
import { report } from './stats.js';
import { haproxyProxy } from '../test/harness/haproxy.js';

const CLIENTS = 16;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Acknowledged writes not found, by their unique description, in a database. */
function missing(r: LoadReport, db: string): number {
  const out = execFileSync('sqlite3', ['-batch', '-cmd', '.timeout 5000', db, "SELECT description FROM time_entries WHERE description LIKE 'load-%'"], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const have = new Set(out.split('\n'));
  return r.acked.filter((a) => !have.has(a.description)).length;
}

async function scenario(withProxy: boolean): Promise<Record<string, unknown>> {
  const root = mkdtempSync(join(tmpdir(), 'bgob-'));
  const d: BlueGreen = await deployBlueGreen({ root, seed: { blue: 20, green: 0 } });
  try {
    const livePort = d.blue.port;
    const extra: Record<string, unknown> = { path: [d.binDir], environment: { PM2_HOME: d.pm2Home }, journal: join(root, 'journal') };
    if (withProxy) {
      // The apps listen on the public ports now; the inventory says where they go (cutover).
      const own = { blue: await freePort(), green: await freePort() };
      while (own.green === own.blue || [d.blue.port, d.green.port].includes(own.green)) own.green = await freePort();
      extra['envs'] = Object.fromEntries((['blue', 'green'] as const).map((c) => [c, { port: own[c], health: `http://127.0.0.1:${own[c]}/api/health` }]));
      extra['proxy'] = haproxyProxy(join(root, 'px'), d.blue.port, d.green.port);
    }
    writeFileSync(join(root, 'hosts.yaml'), inventoryDocument(d.inventoryYaml('local', extra)));
    const measure = async (args: string[]) => {
      const load = startLoad({ baseUrl: `http://127.0.0.1:${livePort}`, clients: CLIENTS, maxDurationMs: 120_000 });
      await sleep(500);
      const t = performance.now();
      const r = await bg(['--inventory', join(root, 'hosts.yaml'), ...args, '--ci'], { cwd: root, env: d.childEnv(), timeoutMs: 120_000 });
      const ms = Math.round(performance.now() - t);
      await sleep(500);
      const l = await load.stop();
      if (r.exitCode !== 0) throw new Error(`bg ${args.join(' ')}: exit ${r.exitCode}\n${r.stderr}${r.stdout}`);
      return { l, ms, out: r.stdout };
    };
    const figures = (m: { l: LoadReport; ms: number }, db: string) => ({
      requests: m.l.sent,
      failed: m.l.failed,
      failures: m.l.failures,
      'p50/p99/max latency (ms)': [m.l.p50Ms, m.l.p99Ms, m.l.maxMs],
      'acknowledged writes': m.l.acked.length,
      'acknowledged writes missing': missing(m.l, db),
      'bg run, end to end (ms)': m.ms,
    });
    const out: Record<string, unknown> = {};
    if (withProxy) {
      const c = await measure(['run', 'cutover', '--host', 'local']);
      out['cutover'] = { ...figures(c, d.blue.db), bg: /pm2 stop .*$/m.exec(c.out)?.[0] };
    }
    const env = await measure(['run', 'env', '--host', 'local', '--var', 'key=ALLOWED_ORIGINS', '--var', 'value=https://bench.example']);
    out['env restart (GREEN then BLUE)'] = figures(env, d.blue.db);
    const p2 = await measure(['run', 'phase2', '--host', 'local']);
    out['phase2'] = { ...figures(p2, join(root, 'database-shared.db')), bg: /writes were frozen .*$/m.exec(p2.out)?.[0] };
    return out;
  } finally {
    await d.stop();
  }
}

it('outage: phase2 and an env restart, without and with the proxy', async () => {
  const without = await scenario(false);
  const withProxy = await scenario(true);
  report('outage', { clients: CLIENTS, 'without proxy (clients on BLUE\'s port)': without, 'with HAProxy (clients on the live port)': withProxy });
});
