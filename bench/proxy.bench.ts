// Issue 13: switch and switch-back under load behind HAProxy (`npm run bench -- proxy`).
// The example app as BLUE and GREEN under a real pm2, Debian's HAProxy under that pm2, 16
// keep-alive clients (half GET, half POST) on the live port during each command.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'vitest';
import { bg } from '../test/harness/cli.js';
import { deployBlueGreen, freePort, inventoryDocument } from '../test/harness/pm2.js';
import { startLoad } from '../test/harness/load-client.js';
import { median, report } from './stats.js';
import { haproxyProxy } from '../test/harness/haproxy.js';

const ROUNDS = 5;

it('proxy: switch and switch-back under load', async () => {
  const root = mkdtempSync(join(tmpdir(), 'bgpb-'));
  const d = await deployBlueGreen({ root });
  try {
    const livePort = await freePort();
    let previewPort = await freePort();
    while (previewPort === livePort) previewPort = await freePort();
    const proxy = haproxyProxy(join(root, 'px'), livePort, previewPort);
    writeFileSync(join(root, 'hosts.yaml'), inventoryDocument(d.inventoryYaml('local', { path: [d.binDir], environment: { PM2_HOME: d.pm2Home }, journal: join(root, 'journal'), proxy })));
    const run = async (args: string[]) => {
      const t = performance.now();
      const r = await bg(['--inventory', join(root, 'hosts.yaml'), ...args], { cwd: root, env: d.childEnv(), timeoutMs: 120_000 });
      if (r.exitCode !== 0) throw new Error(`bg ${args.join(' ')}: exit ${r.exitCode}\n${r.stderr}`);
      return { ms: performance.now() - t, out: r.stdout + r.stderr };
    };
    await run(['run', 'proxy', '--host', 'local']);
    await d.pm2(['start', '/usr/sbin/haproxy', '--name', 'bg-proxy', '--interpreter', 'none', '--', '-W', '-db', '-f', join(root, 'px', 'haproxy.cfg')]);
    await new Promise((r) => setTimeout(r, 1000));

    const switchMs: number[] = [];
    const rollbackMs: number[] = [];
    const setMapMs: number[] = [];
    const load = startLoad({ baseUrl: `http://127.0.0.1:${livePort}`, clients: 16, maxDurationMs: 300_000 });
    for (let i = 0; i < ROUNDS; i++) {
      const to = await run(['switch', '--host', 'local', '--to', 'green', '--json']);
      switchMs.push(to.ms);
      const m = /in (\d+) ms \(runtime map\)/.exec(to.out);
      if (m) setMapMs.push(Number(m[1]));
      rollbackMs.push((await run(['rollback', '--host', 'local'])).ms);
    }
    const back: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      await run(['switch', '--host', 'local', '--to', 'green']);
      back.push((await run(['switch', '--host', 'local', '--to', 'blue'])).ms);
    }
    const r = await load.stop();
    report('proxy', {
      rounds: ROUNDS,
      clients: 16,
      requests: r.sent,
      failed: r.failed,
      failures: r.failures,
      'acknowledged writes': r.acked.length,
      'latency p50/p99/max (ms)': [r.p50Ms, r.p99Ms, r.maxMs],
      'answered by color': r.byColor,
      'bg switch --to green, end to end (ms, median; gate: health + 2 s pm2 stable window)': Math.round(median(switchMs)),
      'set map on the admin socket (ms, median, from the step output)': setMapMs.length ? median(setMapMs) : 'not in the output',
      'switch-back by bg rollback, end to end (ms, median)': Math.round(median(rollbackMs)),
      'switch-back by bg switch --to blue, end to end (ms, median)': Math.round(median(back)),
    });
  } finally {
    await d.stop();
  }
});
