/**
 * Outages behind the proxy, for real: the example app as BLUE and GREEN under a real pm2, listening
 * on the public ports at first; Debian's HAProxy; bg on the `local` host; a keep-alive load client
 * (half GET, half POST) on the public live port. In order on one deployment:
 *
 *   bg run cutover under load (HAProxy in front; refused connections counted, no acknowledged write
 *   lost) → its bg rollback under load (apps back on the public ports, HAProxy gone) → the cutover
 *   again → the env playbook's restarts under load: 0 failed → a share-db whose expected freeze is
 *   longer than the hold window is refused before anything changes → phase2 under load: 0 failed
 *   requests, every acknowledged write in the shared database, the freeze reported.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';
import { deployBlueGreen, freePort, inventoryDocument, type BlueGreen } from '../harness/pm2.js';
import { startLoad, type LoadReport } from '../harness/load-client.js';
import { haproxyProxy } from '../harness/haproxy.js';

let root = '';
let d: BlueGreen;
let livePort = 0; // BLUE's port at first, then HAProxy's live port
let previewPort = 0; // GREEN's port at first, then HAProxy's preview port
const own = { blue: 0, green: 0 };
const run = (args: string[]) => bg(['--inventory', join(root, 'hosts.yaml'), ...args], { cwd: root, env: { ...d.childEnv() }, timeoutMs: 120_000 });
const sql = (db: string, q: string) => execFileSync('sqlite3', ['-batch', '-cmd', '.timeout 5000', db, q], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 }).trim();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Who answers on a port: HAProxy's X-Bg-Color (null: the app itself) and the app's X-App-Color. */
async function colorOn(port: number): Promise<{ proxy: string | null; app: string | null }> {
  const res = await fetch(`http://127.0.0.1:${port}/api/health`, { signal: AbortSignal.timeout(5000) });
  await res.arrayBuffer();
  return { proxy: res.headers.get('x-bg-color'), app: res.headers.get('x-app-color') };
}

/** Acknowledged writes not found (by their unique description) in a database. */
function missing(r: LoadReport, db: string): number {
  const have = new Set(sql(db, "SELECT description FROM time_entries WHERE description LIKE 'load-%'").split('\n'));
  return r.acked.filter((a) => !have.has(a.description)).length;
}

/** Run bg while the load client writes to the live port; the report of the load and bg's result. */
async function underLoad(args: string[]): Promise<{ r: Awaited<ReturnType<typeof run>>; load: LoadReport }> {
  const load = startLoad({ baseUrl: `http://127.0.0.1:${livePort}`, clients: 8, maxDurationMs: 90_000 });
  await sleep(300);
  const r = await run(args);
  await sleep(300);
  return { r, load: await load.stop() };
}

const haproxyInPm2 = async () => (await d.jlist()).some((p) => p.name === 'bg-proxy');

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'bgpo-'));
  d = await deployBlueGreen({ root, seed: { blue: 5, green: 0 } });
  livePort = d.blue.port;
  previewPort = d.green.port;
  const taken = new Set([livePort, previewPort]);
  for (const c of ['blue', 'green'] as const) {
    do own[c] = await freePort();
    while (taken.has(own[c]));
    taken.add(own[c]);
  }
  // The inventory describes the result of the cutover: the apps' own ports, the public ports on the proxy.
  const envs = Object.fromEntries((['blue', 'green'] as const).map((c) => [c, { port: own[c], health: `http://127.0.0.1:${own[c]}/api/health` }]));
  const proxy = haproxyProxy(join(root, 'proxy'), livePort, previewPort);
  writeFileSync(join(root, 'hosts.yaml'), inventoryDocument(d.inventoryYaml('local', { path: [d.binDir], environment: { PM2_HOME: d.pm2Home }, journal: join(root, 'journal'), envs, proxy })));
  // phase2 with an expected freeze (10 s, x1.5) longer than the hold window (50 x 200 ms).
  const phase2 = readFileSync(join(import.meta.dirname, '../../playbooks/phase2.yaml'), 'utf8');
  writeFileSync(join(root, 'slow-freeze.yaml'), phase2.replace('name: phase2', 'name: slow-freeze').replace('action: share-db\n    with: { envs: [blue, green], base: "{{ vars.base }}" }', 'action: share-db\n    with: { envs: [blue, green], base: "{{ vars.base }}", expected_freeze: 10s }'));
}, 180_000);

afterAll(async () => {
  await d?.stop();
});

describe('outages behind HAProxy', () => {
  it('bg run cutover puts HAProxy in front of apps on the public ports, under load, losing no acknowledged write', async () => {
    expect(await colorOn(livePort)).toEqual({ proxy: null, app: 'blue' });
    const { r, load } = await underLoad(['run', 'cutover', '--host', 'local', '--ci']);
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(await colorOn(livePort)).toEqual({ proxy: 'blue', app: 'blue' });
    expect(await colorOn(previewPort)).toEqual({ proxy: 'green', app: 'green' });
    expect(await colorOn(own.blue)).toEqual({ proxy: null, app: 'blue' });
    expect(readFileSync(d.blue.envFile, 'utf8')).toContain(`PORT=${own.blue}\n`);
    expect(readFileSync(join(root, 'proxy', 'live.map'), 'utf8')).toBe('live be_blue\npreview be_green\n');
    expect(r.stdout).toMatch(/HAProxy listened on :\d+ \d+ ms later/);
    expect(load.acked.length).toBeGreaterThan(0);
    expect(missing(load, d.blue.db)).toBe(0);
    console.log(`[cutover] ${load.sent} requests, ${load.failed} failed ${JSON.stringify(load.failures)}, max ${load.maxMs} ms; ${r.stdout.match(/pm2 stop .*$/m)?.[0] ?? ''}`);
  });

  it('bg rollback of the cutover puts the apps back on the public ports and removes HAProxy', async () => {
    const { r, load } = await underLoad(['rollback', '--host', 'local']);
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(await colorOn(livePort)).toEqual({ proxy: null, app: 'blue' });
    expect(await colorOn(previewPort)).toEqual({ proxy: null, app: 'green' });
    expect(readFileSync(d.blue.envFile, 'utf8')).toContain(`PORT=${livePort}\n`);
    expect(readFileSync(d.green.envFile, 'utf8')).toContain(`PORT=${previewPort}\n`);
    expect(await haproxyInPm2()).toBe(false);
    expect(existsSync(join(root, 'proxy', 'haproxy.cfg'))).toBe(false);
    expect(missing(load, d.blue.db)).toBe(0);
    console.log(`[cutover rollback] ${load.sent} requests, ${load.failed} failed ${JSON.stringify(load.failures)}, max ${load.maxMs} ms`);
  });

  it('the cutover again, then the env playbook restarts both apps behind the proxy with 0 failed requests', async () => {
    const c = await run(['run', 'cutover', '--host', 'local']);
    expect(c.exitCode, c.stderr).toBe(0);
    const pids = { blue: await d.pid('blue'), green: await d.pid('green') };
    const { r, load } = await underLoad(['run', 'env', '--host', 'local', '--var', 'key=ALLOWED_ORIGINS', '--var', 'value=https://a.example']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await d.pid('blue')).not.toBe(pids.blue);
    expect(await d.pid('green')).not.toBe(pids.green);
    expect(load.failed, JSON.stringify(load.failures)).toBe(0);
    expect(missing(load, d.blue.db)).toBe(0);
  });

  it('refuses a share-db whose expected freeze is longer than the hold window, changing nothing', async () => {
    const r = await run(['run', join(root, 'slow-freeze.yaml'), '--host', 'local']);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/the freeze is expected to take 10000 ms \(with\.expected_freeze\); with a margin of 150 % the proxy must hold requests for 15000 ms, but it holds them for 10000 ms/);
    expect(r.stderr).toMatch(/Raise proxy\.hold\.retries to at least 75/);
    expect(lstatSync(d.blue.db).isSymbolicLink()).toBe(false);
    expect(existsSync(join(root, 'database-shared.db'))).toBe(false);
    expect((await d.jlist()).filter((p) => p.status === 'online').length).toBe(3);
  });

  it('phase2 behind the proxy under load: 0 failed requests, every acknowledged write in the shared database', async () => {
    const { r, load } = await underLoad(['run', 'phase2', '--host', 'local', '--ci']);
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/writes were frozen for \d+ ms .* within the proxy's hold window of 10000 ms/);
    expect(lstatSync(d.blue.db).isSymbolicLink()).toBe(true);
    expect(load.failed, JSON.stringify(load.failures)).toBe(0);
    expect(load.acked.length).toBeGreaterThan(0);
    expect(missing(load, join(root, 'database-shared.db'))).toBe(0);
    console.log(`[phase2] ${load.sent} requests, ${load.failed} failed, p50/p99/max ${load.p50Ms}/${load.p99Ms}/${load.maxMs} ms; ${r.stdout.match(/writes were frozen.*$/m)?.[0]}`);
  });
});
