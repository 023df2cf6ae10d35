// Issue 14: bg release under load behind HAProxy, and the switch-back of bg rollback
// (`npm run bench -- release`). The example app (v1) as BLUE and GREEN under a real pm2, Debian's
// HAProxy under that pm2, 16 keep-alive clients (half GET, half POST) on the live port throughout;
// v2 (test/harness/app-versions.ts) released from a git tag the host fetches, then rolled back.
// Switch-back time: from the start of `bg rollback` until the live port answers from BLUE, polled
// every 5 ms by a separate client.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'vitest';
import { bg } from '../test/harness/cli.js';
import { deployBlueGreen, freePort, inventoryDocument } from '../test/harness/pm2.js';
import { startLoad } from '../test/harness/load-client.js';
import { buildRepo } from '../test/harness/app-versions.js';
import { median, report } from './stats.js';
import { haproxyProxy } from '../test/harness/haproxy.js';

const ROUNDS = 3;

it('release: end to end under load, and the switch-back of bg rollback', async () => {
  const root = mkdtempSync(join(tmpdir(), 'bgrb-'));
  const d = await deployBlueGreen({ root });
  try {
    const livePort = await freePort();
    let previewPort = await freePort();
    while (previewPort === livePort) previewPort = await freePort();
    buildRepo(d.appSource, join(root, 'repo'));
    const proxy = haproxyProxy(join(root, 'px'), livePort, previewPort);
    const migrate = 'node current/migrate.js';
    const release = { repo: join(root, 'repo'), install: `ln -s ${join(d.appSource, 'node_modules')} node_modules` };
    writeFileSync(join(root, 'hosts.yaml'), inventoryDocument(d.inventoryYaml('local', { path: [d.binDir], environment: { PM2_HOME: d.pm2Home }, journal: join(root, 'journal'), envs: { blue: { migrate }, green: { migrate } }, release, proxy })));
    const run = async (args: string[]) => {
      const t = performance.now();
      const r = await bg(['--inventory', join(root, 'hosts.yaml'), ...args], { cwd: root, env: d.childEnv(), timeoutMs: 300_000 });
      if (r.exitCode !== 0) throw new Error(`bg ${args.join(' ')}: exit ${r.exitCode}\n${r.stderr}`);
      return performance.now() - t;
    };
    await run(['run', 'proxy', '--host', 'local']);
    await d.pm2(['start', '/usr/sbin/haproxy', '--name', 'bg-proxy', '--interpreter', 'none', '--', '-W', '-db', '-f', join(root, 'px', 'haproxy.cfg')]);
    await new Promise((r) => setTimeout(r, 1000));
    const colorOf = async () => {
      const res = await fetch(`http://127.0.0.1:${livePort}/api/health`, { signal: AbortSignal.timeout(5000) });
      await res.arrayBuffer();
      return res.headers.get('x-app-color');
    };

    const releaseMs: number[] = [];
    const rollbackMs: number[] = [];
    const switchBackMs: number[] = [];
    const load = startLoad({ baseUrl: `http://127.0.0.1:${livePort}`, clients: 16, maxDurationMs: 600_000 });
    for (let i = 0; i < ROUNDS; i++) {
      releaseMs.push(await run(['release', '--host', 'local', '--ref', 'v2.0.0']));
      if ((await colorOf()) !== 'green') throw new Error('live is not GREEN after the release');
      const t0 = performance.now();
      let back = 0;
      const poll = (async () => {
        while (!back) {
          if ((await colorOf().catch(() => null)) === 'blue') back = performance.now() - t0;
          else await new Promise((r) => setTimeout(r, 5));
        }
      })();
      rollbackMs.push(await run(['rollback', '--host', 'local']));
      await poll;
      switchBackMs.push(back);
    }
    const r = await load.stop();
    report('release', {
      rounds: ROUNDS,
      clients: 16,
      requests: r.sent,
      failed: r.failed,
      failures: r.failures,
      'acknowledged writes': r.acked.length,
      'latency p50/p99/max (ms)': [r.p50Ms, r.p99Ms, r.maxMs],
      'answered by color': r.byColor,
      'bg release --ref v2.0.0, end to end (ms, median; fetch, link, backup, migrate, app, 3 s stable gate, switch)': Math.round(median(releaseMs)),
      'bg rollback of the release, end to end (ms, median)': Math.round(median(rollbackMs)),
      'live back on BLUE after bg rollback starts (ms, median; max)': [Math.round(median(switchBackMs)), Math.round(Math.max(...switchBackMs))],
    });
  } finally {
    await d.stop();
  }
});
