/**
 * bg release, for real: the example app deployed twice under a real pm2 (v1), Debian's HAProxy in
 * front (run by that pm2), bg on the `local` host. v2 is built from examples/app as a fixture
 * (test/harness/app-versions.ts): a nullable column added by migration 004, shown in its health
 * JSON. In order on one deployment:
 *
 *   a tarball of v2 released to GREEN under load: 0 failed, every acknowledged write in its
 *   color's database, live answers v2, bg status names the release → bg rollback: live back on
 *   BLUE (v1), GREEN's link and pm2 app as before → v2 released from a git tag the host fetches
 *   → a build that fails its health gate never gets live traffic (exit 1, live unchanged, BLUE put
 *   back) → a build answering 500 after the switch is switched back by the watch (exit 1) → a
 *   source without a lockfile is refused.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';
import { deployBlueGreen, freePort, inventoryDocument, type BlueGreen, type EnvName } from '../harness/pm2.js';
import { startLoad, type LoadReport } from '../harness/load-client.js';
import { buildRepo, buildTarball, buildVersion } from '../harness/app-versions.js';
import { haproxyProxy, startHaproxy } from '../harness/haproxy.js';

let root = '';
let d: BlueGreen;
let livePort = 0;
let previewPort = 0;
const run = (args: string[]) => bg(['--inventory', join(root, 'hosts.yaml'), ...args], { cwd: root, env: { ...d.childEnv() }, timeoutMs: 180_000 });
const sql = (db: string, q: string) => execFileSync('sqlite3', ['-batch', '-cmd', '.timeout 5000', db, q], { encoding: 'utf8' }).trim();

interface Live {
  color: string | null;
  version: string;
  billable?: boolean;
}

/** What answers on the live port: its color and version (v1 has no `version` in its health JSON). */
async function liveApp(port = livePort): Promise<Live> {
  const res = await fetch(`http://127.0.0.1:${port}/api/health`, { signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as { version?: string; billable?: boolean };
  return { color: res.headers.get('x-app-color'), version: body.version ?? 'v1', ...(body.billable !== undefined ? { billable: body.billable } : {}) };
}

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

/** How pm2 runs an env's app: its script path. */
async function scriptOf(env: EnvName): Promise<string> {
  const out = (await d.pm2(['jlist'])).stdout;
  const list = JSON.parse(out.split('\n').reverse().find((l) => l.trim().startsWith('['))!) as Array<{ name: string; pm2_env: { pm_exec_path: string } }>;
  return list.find((p) => p.name === d.env(env).app)!.pm2_env.pm_exec_path;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'bgrl-'));
  d = await deployBlueGreen({ root, seed: { blue: 3, green: 3 } });
  livePort = await freePort();
  do previewPort = await freePort();
  while (previewPort === livePort);
  buildRepo(d.appSource, join(root, 'repo'));
  buildTarball(buildVersion(d.appSource, join(root, 'build-v2'), 'v2'), join(root, 'v2.tgz'), 'timetracking-2.0.0');
  const nolock = buildVersion(d.appSource, join(root, 'build-nolock'), 'v2');
  rmSync(join(nolock, 'package-lock.json'));
  const migrate = 'node current/migrate.js';
  const host = d.inventoryYaml('local', {
    path: [d.binDir],
    environment: { PM2_HOME: d.pm2Home },
    journal: join(root, 'journal'),
    envs: { blue: { migrate }, green: { migrate } },
    // The example app's node_modules (better-sqlite3 builds from source for a minute): linked, not installed.
    release: { repo: join(root, 'repo'), install: `ln -s ${join(d.appSource, 'node_modules')} node_modules`, keep: 2 },
    proxy: haproxyProxy(join(root, 'proxy'), livePort, previewPort),
  });
  writeFileSync(join(root, 'hosts.yaml'), inventoryDocument(host));
  const p = await run(['run', 'proxy', '--host', 'local']);
  if (p.exitCode !== 0) throw new Error(p.stderr);
  await startHaproxy(d, join(root, 'proxy'));
}, 240_000);

afterAll(async () => {
  await d?.stop();
});

describe('bg release behind HAProxy', () => {
  it('releases a tarball of v2 to GREEN under load: 0 failed, no acknowledged write lost, live answers v2', async () => {
    expect(await liveApp()).toEqual({ color: 'blue', version: 'v1' });
    const load = startLoad({ baseUrl: `http://127.0.0.1:${livePort}`, clients: 8, maxDurationMs: 120_000 });
    await new Promise((r) => setTimeout(r, 300));
    const r = await run(['release', '--host', 'local', '--source', join(root, 'v2.tgz')]);
    await new Promise((r) => setTimeout(r, 300));
    const report = await load.stop();
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(report.failed, JSON.stringify(report.failures)).toBe(0);
    expect(report.byColor.blue ?? 0).toBeGreaterThan(0);
    expect(report.byColor.green ?? 0).toBeGreaterThan(0);
    expect(missingWrites(report)).toBe(0);
    expect(await liveApp()).toEqual({ color: 'green', version: 'v2', billable: true });
    // BLUE (v1) keeps running, untouched.
    expect((await d.health('blue')).httpStatus).toBe(200);
    const green = d.env('green').dir;
    expect(readlinkSync(join(green, 'current'))).toMatch(/^releases\/\d{8}T/);
    expect(await scriptOf('green')).toBe(join(green, 'current', 'server.js'));
    const s = await run(['status', '--host', 'local']);
    expect(s.stdout).toMatch(/green: .*\[LIVE\]\n {4}release \S+: from archive \S*v2\.tgz; deployed \d{4}-/);
  });

  it('bg rollback of the release: live back on BLUE (v1) first, then GREEN as before; the database change stays', async () => {
    const r = await run(['rollback', '--host', 'local']);
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(await liveApp()).toEqual({ color: 'blue', version: 'v1' });
    const green = d.env('green').dir;
    expect(existsSync(join(green, 'current'))).toBe(false);
    expect(await scriptOf('green')).toBe(join(green, 'server.js'));
    expect((await d.waitHealthy('green')).status).toBe('ok');
    // Expand-only: kept without --restore-db.
    expect(sql(d.env('green').db, "SELECT count(*) FROM pragma_table_info('time_entries') WHERE name = 'billable'")).toBe('1');
    expect(r.stdout + r.stderr).toMatch(/database changes of green kept/);
  });

  it('releases v2 from a git tag the host fetches', async () => {
    const r = await run(['release', '--host', 'local', '--ref', 'v2.0.0']);
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(await liveApp()).toEqual({ color: 'green', version: 'v2', billable: true });
    const s = await run(['status', '--host', 'local']);
    expect(s.stdout).toMatch(/release \S+: ref v2\.0\.0, commit [0-9a-f]{12}, from git /);
  });

  it('never gives live traffic to a build that fails its health gate (exit 1, live unchanged, BLUE put back)', async () => {
    const blue = d.env('blue').dir;
    const r = await run(['release', '--host', 'local', '--ref', 'bad-health']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/is not healthy after \d+ tries/);
    expect(await liveApp()).toEqual({ color: 'green', version: 'v2', billable: true });
    expect(existsSync(join(blue, 'current'))).toBe(false);
    expect(await scriptOf('blue')).toBe(join(blue, 'server.js'));
    expect((await d.waitHealthy('blue')).status).toBe('ok');
  });

  it('switches back by itself when the released build answers 500 during the watch window', async () => {
    const load = startLoad({ baseUrl: `http://127.0.0.1:${livePort}`, clients: 4, maxDurationMs: 120_000 });
    const r = await run(['release', '--host', 'local', '--ref', 'bad-500', '--watch', '20s', '--max-error-rate', '10']);
    const report = await load.stop();
    expect(r.exitCode, r.stdout).toBe(1);
    expect(r.stderr).toMatch(/blue answered \d+ 5xx of \d+ responses .*switched live back to green/);
    expect(report.failures['HTTP 500'] ?? Object.values(report.failures).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(await liveApp()).toEqual({ color: 'green', version: 'v2', billable: true });
    expect(existsSync(join(d.env('blue').dir, 'current'))).toBe(false);
  });

  it('refuses a source without a lockfile, and a missing source before connecting', async () => {
    const r = await run(['release', '--host', 'local', '--source', join(root, 'build-nolock')]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/has no lockfile/);
    expect(lstatSync(join(d.env('blue').dir)).isDirectory()).toBe(true);
    expect(existsSync(join(d.env('blue').dir, 'current'))).toBe(false);
    const missing = await run(['release', '--host', 'local', '--source', join(root, 'nope.tgz')]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/nope\.tgz: no such file or directory/);
  });
});
