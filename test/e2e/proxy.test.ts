/**
 * The proxy in front of BLUE and GREEN, for real: the example app deployed twice under a real pm2,
 * Debian's HAProxy (installed by test/global-setup.ts) run by that pm2 as this user on free ports
 * (no chroot, admin socket in the temp dir), bg on the `local` host. In order on one deployment:
 *
 *   a bad proxy config is refused before use → bg run proxy writes the config and the map →
 *   bg status shows BLUE live → switch to GREEN and back under load, 0 failed requests, every
 *   acknowledged write in the database of the color that acknowledged it → a GREEN that fails its
 *   gate is never switched to → HAProxy killed and restarted by pm2 keeps GREEN live →
 *   bg rollback of a switch puts BLUE back.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';
import { deployBlueGreen, freePort, inventoryDocument, type BlueGreen, type EnvName } from '../harness/pm2.js';
import { startLoad, type LoadReport } from '../harness/load-client.js';
import { haproxyProxy, startHaproxy } from '../harness/haproxy.js';

let root = '';
let d: BlueGreen;
let livePort = 0;
let previewPort = 0;
const run = (args: string[], inv = 'hosts.yaml') => bg(['--inventory', join(root, inv), ...args], { cwd: root, env: { ...d.childEnv() }, timeoutMs: 120_000 });
const sql = (db: string, q: string) => execFileSync('sqlite3', ['-batch', '-cmd', '.timeout 5000', db, q], { encoding: 'utf8' }).trim();

/** Which color answers on a port (HAProxy's X-Bg-Color and the app's X-App-Color). */
async function colorOn(port: number): Promise<{ proxy: string | null; app: string | null }> {
  const res = await fetch(`http://127.0.0.1:${port}/api/health`, { signal: AbortSignal.timeout(5000) });
  await res.arrayBuffer();
  return { proxy: res.headers.get('x-bg-color'), app: res.headers.get('x-app-color') };
}

/** Every acknowledged write is in the database of the color that acknowledged it. */
function missingWrites(r: LoadReport): number {
  let missing = 0;
  for (const color of ['blue', 'green'] as EnvName[]) {
    const ids = r.acked.filter((a) => a.color === color).map((a) => a.id);
    if (ids.length === 0) continue;
    const have = new Set(sql(d.env(color).db, `SELECT id FROM time_entries WHERE id IN (${ids.join(',')})`).split('\n').map(Number));
    missing += ids.filter((id) => !have.has(id)).length;
  }
  return missing;
}

function proxyBlock(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    proxy: haproxyProxy(join(root, 'proxy'), livePort, previewPort, extra),
  };
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'bgpx-'));
  d = await deployBlueGreen({ root, seed: { blue: 3, green: 3 } });
  livePort = await freePort();
  do previewPort = await freePort();
  while (previewPort === livePort);
  const host = (extra: Record<string, unknown>) => d.inventoryYaml('local', { path: [d.binDir], environment: { PM2_HOME: d.pm2Home }, journal: join(root, 'journal'), ...extra });
  writeFileSync(join(root, 'hosts.yaml'), inventoryDocument(host(proxyBlock())));
  // A public port that is BLUE's own: refused when the inventory is read.
  writeFileSync(join(root, 'clash.yaml'), inventoryDocument(host(proxyBlock({ live_port: d.blue.port }))));
  // Valid for bg, refused by `haproxy -c` (a bind address that does not resolve): the pre-flight.
  writeFileSync(join(root, 'unresolvable.yaml'), inventoryDocument(host(proxyBlock({ bind: 'no-such-host.invalid' }))));
}, 180_000);

afterAll(async () => {
  await d?.stop();
});

describe('bg with HAProxy in front of BLUE and GREEN', () => {
  it('refuses a bad proxy config before it is used', async () => {
    const clash = await run(['run', 'proxy', '--host', 'local'], 'clash.yaml');
    expect(clash.exitCode).toBe(2);
    expect(clash.stderr).toMatch(/clash\.yaml:\d+:\d+: hosts\.local\.envs\.blue\.port: env `blue` listens on \d+, a public port of the proxy/);
    const bad = await run(['run', 'proxy', '--host', 'local'], 'unresolvable.yaml');
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr + bad.stdout).toMatch(/haproxy -c/);
    expect(existsSync(join(root, 'proxy', 'haproxy.cfg'))).toBe(false);
    expect(existsSync(join(root, 'proxy', 'live.map'))).toBe(false);
  });

  it('writes the configuration and map (bg run proxy), HAProxy starts on them, bg status shows BLUE live', async () => {
    const r = await run(['run', 'proxy', '--host', 'local']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(readFileSync(join(root, 'proxy', 'live.map'), 'utf8')).toBe('live be_blue\npreview be_green\n');
    await startHaproxy(d, join(root, 'proxy'));
    expect(await colorOn(livePort)).toEqual({ proxy: 'blue', app: 'blue' });
    expect(await colorOn(previewPort)).toEqual({ proxy: 'green', app: 'green' });
    const s = await run(['status', '--host', 'local']);
    expect(s.stdout).toMatch(/proxy: live blue \(:\d+\), preview green/);
    const j = JSON.parse((await run(['status', '--host', 'local', '--json'])).stdout) as Array<{ proxy: { live: string } }>;
    expect(j[0]!.proxy.live).toBe('blue');
  });

  it('switches to GREEN and back under load with 0 failed requests and no acknowledged write missing', async () => {
    const load = startLoad({ baseUrl: `http://127.0.0.1:${livePort}`, clients: 8, maxDurationMs: 60_000 });
    await new Promise((r) => setTimeout(r, 500));
    const to = await run(['switch', '--host', 'local', '--to', 'green']);
    expect(to.exitCode, to.stderr).toBe(0);
    expect(await colorOn(livePort)).toEqual({ proxy: 'green', app: 'green' });
    await new Promise((r) => setTimeout(r, 300));
    const back = await run(['switch', '--host', 'local', '--to', 'blue']);
    expect(back.exitCode, back.stderr).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    const report = await load.stop();
    expect(report.failed, JSON.stringify(report.failures)).toBe(0);
    expect(report.byColor.green ?? 0).toBeGreaterThan(0);
    expect(report.byColor.blue ?? 0).toBeGreaterThan(0);
    expect(report.acked.length).toBeGreaterThan(0);
    expect(missingWrites(report)).toBe(0);
    expect(readFileSync(join(root, 'proxy', 'live.map'), 'utf8')).toBe('live be_blue\npreview be_green\n');
    expect(readFileSync(join(root, 'proxy', 'live.map.switched'), 'utf8')).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z blue\n$/);
  });

  it('never switches to a color that fails its gate (exit 1, live unchanged)', async () => {
    await d.pm2(['stop', d.green.app]);
    try {
      const r = await run(['switch', '--host', 'local', '--to', 'green']);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toMatch(/gate: green healthy/);
      expect(await colorOn(livePort)).toEqual({ proxy: 'blue', app: 'blue' });
      expect(readFileSync(join(root, 'proxy', 'live.map'), 'utf8')).toBe('live be_blue\npreview be_green\n');
    } finally {
      await d.pm2(['start', d.green.app]);
      await d.waitHealthy('green');
    }
  });

  it('keeps GREEN live when HAProxy is killed and restarted', async () => {
    expect((await run(['switch', '--host', 'local', '--to', 'green'])).exitCode).toBe(0);
    const before = (await d.jlist()).find((p) => p.name === 'bg-proxy')!;
    process.kill(before.pid, 'SIGKILL');
    let after = before;
    for (let i = 0; i < 100 && (after.pid === before.pid || after.status !== 'online'); i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = (await d.jlist()).find((p) => p.name === 'bg-proxy') ?? before;
    }
    expect(after.pid).not.toBe(before.pid);
    let seen: { proxy: string | null; app: string | null } = { proxy: null, app: null };
    for (let i = 0; i < 50; i++) {
      seen = await colorOn(livePort).catch(() => seen);
      if (seen.proxy) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(seen).toEqual({ proxy: 'green', app: 'green' });
    expect((await run(['status', '--host', 'local'])).stdout).toMatch(/proxy: live green/);
  });

  it('bg rollback of a switch puts the previous color back live', async () => {
    // GREEN is live: switch to BLUE, then undo that run.
    expect((await run(['switch', '--host', 'local', '--to', 'blue'])).exitCode).toBe(0);
    expect((await colorOn(livePort)).proxy).toBe('blue');
    const r = await run(['rollback', '--host', 'local']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await colorOn(livePort)).toEqual({ proxy: 'green', app: 'green' });
    expect(readFileSync(join(root, 'proxy', 'live.map'), 'utf8')).toBe('live be_green\npreview be_blue\n');
  });

  it('exposes live and idle to templates, read from the host', async () => {
    writeFileSync(join(root, 'which.yaml'), 'name: which\nsteps:\n  - name: live is {{ live.name }} on {{ live.port }}, idle {{ idle.name }}\n    action: shell\n    with: { command: "echo {{ live.name }} {{ idle.port }}", mutates: false }\n');
    const r = await run(['plan', join(root, 'which.yaml'), '--host', 'local']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(`live is green on ${d.green.port}, idle blue`);
    expect(r.stdout).toMatch(/green is still live \(as when planned\)/);
  });
});
