// Issue 17: how long the `maintenance` playbook's window lasts for the example app
// (`npm run bench -- maintenance`). The example app as BLUE and GREEN under a real pm2 (fork mode),
// Debian's HAProxy in front (run by that pm2), bg on the `local` host, a breaking migration (a
// column renamed) in both envs. Each round: `bg run maintenance`, then `bg rollback` of it (which
// puts the databases back, so the next round migrates again). The window is what bg reports (from
// the map's switch to the maintenance backend to the switch back); the steps' times come from
// `--json`. Idle, then under load (8 keep-alive clients on the live port), and without the proxy.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'vitest';
import { bg } from '../test/harness/cli.js';
import { deployBlueGreen, freePort, inventoryDocument, type BlueGreen } from '../test/harness/pm2.js';
import { startLoad, type LoadReport } from '../test/harness/load-client.js';
import { median, report } from './stats.js';
import { haproxyProxy } from '../test/harness/haproxy.js';

const ROUNDS = 3;
const CLIENTS = 8;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Round {
  windowMs: number;
  bgMs: number;
  steps: Record<string, number>;
  load?: LoadReport;
}

async function scenario(withProxy: boolean, migrate: string): Promise<Record<string, unknown>> {
  const root = mkdtempSync(join(tmpdir(), 'bgmb-'));
  const d: BlueGreen = await deployBlueGreen({ root, seed: { blue: 200, green: 200 } });
  try {
    const extra: Record<string, unknown> = { path: [d.binDir], environment: { PM2_HOME: d.pm2Home }, journal: join(root, 'journal'), envs: { blue: { migrate }, green: { migrate } } };
    let livePort = d.blue.port;
    if (withProxy) {
      livePort = await freePort();
      let preview = await freePort();
      while (preview === livePort) preview = await freePort();
      extra['proxy'] = haproxyProxy(join(root, 'px'), livePort, preview);
    }
    writeFileSync(join(root, 'hosts.yaml'), inventoryDocument(d.inventoryYaml('local', extra)));
    const run = (args: string[]) => bg(['--inventory', join(root, 'hosts.yaml'), ...args], { cwd: root, env: d.childEnv(), timeoutMs: 180_000 });
    if (withProxy) {
      const p = await run(['run', 'proxy', '--host', 'local']);
      if (p.exitCode !== 0) throw new Error(p.stderr);
      await d.pm2(['start', '/usr/sbin/haproxy', '--name', 'bg-proxy', '--interpreter', 'none', '--', '-W', '-db', '-f', join(root, 'px', 'haproxy.cfg')]);
      await sleep(1000);
    }
    for (const c of ['blue', 'green'] as const) writeFileSync(join(d.env(c).dir, 'migrations', '004_rename_project.sql'), 'ALTER TABLE time_entries RENAME COLUMN project TO project_code;\n');

    const round = async (underLoad: boolean): Promise<Round> => {
      const load = underLoad ? startLoad({ baseUrl: `http://127.0.0.1:${livePort}`, clients: CLIENTS, maxDurationMs: 120_000, pauseMs: 2 }) : undefined;
      if (load) await sleep(500);
      const t = performance.now();
      const r = await run(['run', 'maintenance', '--host', 'local', '--json']);
      const bgMs = Math.round(performance.now() - t);
      if (load) await sleep(500);
      const l = await load?.stop();
      if (r.exitCode !== 0) throw new Error(`bg run maintenance: exit ${r.exitCode}\n${r.stderr}${r.stdout}`);
      const events = r.stdout.split('\n').filter(Boolean).map((x) => JSON.parse(x) as { type: string; step?: number; name?: string; durationMs?: number; stdout?: string });
      const names = new Map(events.filter((e) => e.type === 'step-start').map((e) => [e.step!, e.name!]));
      const steps = Object.fromEntries(events.filter((e) => e.type === 'step-done').map((e) => [`${e.step}. ${names.get(e.step!)}`, Math.round(e.durationMs!)]));
      const windowMs = Number(/maintenance window closed after (\d+) ms/.exec(events.map((e) => e.stdout ?? '').join('\n'))?.[1]);
      const rb = await run(['rollback', '--host', 'local', '--accept-data-loss']);
      if (rb.exitCode !== 0) throw new Error(`bg rollback: exit ${rb.exitCode}\n${rb.stderr}`);
      return { windowMs, bgMs, steps, ...(l ? { load: l } : {}) };
    };

    const idle: Round[] = [];
    for (let i = 0; i < ROUNDS; i++) idle.push(await round(false));
    const loaded = await round(true);
    const l = loaded.load!;
    return {
      'window, idle (ms, each round)': idle.map((x) => x.windowMs),
      'window, idle, median (ms)': median(idle.map((x) => x.windowMs)),
      'bg run maintenance end to end, idle, median (ms)': median(idle.map((x) => x.bgMs)),
      'steps of the last idle round (ms)': idle.at(-1)!.steps,
      'window under load (ms)': loaded.windowMs,
      'under load': { requests: l.sent, 'non-2xx or failed': l.failed, failures: l.failures, 'p50/p99/max latency (ms)': [l.p50Ms, l.p99Ms, l.maxMs] },
    };
  } finally {
    await d.stop();
  }
}

it('maintenance: the window of the maintenance playbook for the example app', async () => {
  const out: Record<string, unknown> = {};
  out['HAProxy, migrate: npm run migrate:prod (the inventory of the tests)'] = await scenario(true, 'npm run migrate:prod');
  out['HAProxy, migrate: node migrate.js'] = await scenario(true, 'node migrate.js');
  out['no proxy, migrate: node migrate.js'] = await scenario(false, 'node migrate.js');
  report('maintenance', { rounds: ROUNDS, clients: CLIENTS, ...out });
});
