/**
 * A maintenance window, for real: the example app as BLUE and GREEN under a real pm2, Debian's
 * HAProxy in front (run by that pm2), sqlite3, bg on the `local` host, and a keep-alive load client
 * (half GET, half POST) on the public live port. A breaking migration (a column renamed) is put in
 * both envs' migrations; then, in order:
 *
 *   bg run maintenance under load: exit 0, the lint gate reports the rename and says it was let
 *   through (recorded in the journal), the window's length reported; every answer inside the
 *   window is HAProxy's maintenance 503 (Retry-After, the page), none after it, no connection
 *   error at all; both databases migrated → bg rollback (--accept-data-loss): both databases back
 *   to the schema fingerprint and rows they had when the window opened, BLUE live again →
 *   the same playbook on the host without its proxy: apps stopped meanwhile, the window reported.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';
import { deployBlueGreen, freePort, inventoryDocument, type BlueGreen, type EnvName } from '../harness/pm2.js';
import { startLoad, type Answered, type LoadReport } from '../harness/load-client.js';
import { haproxyProxy, startHaproxy } from '../harness/haproxy.js';

let root = '';
let d: BlueGreen;
let livePort = 0;
let previewPort = 0;
const PAGE = '<!doctype html><title>Back soon</title><p>maintenance-page-of-the-test</p>\n';
const run = (args: string[]) => bg(['--inventory', join(root, 'hosts.yaml'), ...args], { cwd: root, env: { ...d.childEnv() }, timeoutMs: 120_000 });
const sql = (db: string, q: string) => execFileSync('sqlite3', ['-batch', '-cmd', '.timeout 5000', db, q], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).trim();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rows = (db: string) => sql(db, 'SELECT id, description, minutes, created_at FROM time_entries ORDER BY id');
const columns = (db: string) => sql(db, "SELECT name FROM pragma_table_info('time_entries') ORDER BY cid").split('\n');

/** The schema fingerprint of each env, as bg status reports it. */
async function fingerprints(): Promise<Record<string, string>> {
  const r = await run(['status', '--host', 'local', '--json']);
  const [host] = JSON.parse(r.stdout) as Array<{ envs: Record<string, { fingerprint?: string[] }> }>;
  return Object.fromEntries(Object.entries(host!.envs).map(([name, e]) => [name, e.fingerprint?.[0] ?? '?']));
}

/** The run's journal directory (the newest run). */
function lastRunDir(): string {
  const runs = readdirSync(join(root, 'journal', 'runs')).sort();
  return join(root, 'journal', 'runs', runs.at(-1)!);
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'bgmt-'));
  d = await deployBlueGreen({ root, seed: { blue: 4, green: 2 } });
  livePort = await freePort();
  do previewPort = await freePort();
  while (previewPort === livePort);
  writeFileSync(join(root, 'maintenance.html'), PAGE);
  const proxy = haproxyProxy(join(root, 'proxy'), livePort, previewPort, { maintenance: { page: join(root, 'maintenance.html'), retry_after: 30 } });
  writeFileSync(join(root, 'hosts.yaml'), inventoryDocument(d.inventoryYaml('local', { path: [d.binDir], environment: { PM2_HOME: d.pm2Home }, journal: join(root, 'journal'), proxy })));
  writeFileSync(join(root, 'noproxy.yaml'), inventoryDocument(d.inventoryYaml('local', { path: [d.binDir], environment: { PM2_HOME: d.pm2Home }, journal: join(root, 'journal') })));
  const r = await run(['run', 'proxy', '--host', 'local']);
  if (r.exitCode !== 0) throw new Error(r.stderr);
  await startHaproxy(d, join(root, 'proxy'));
  // The breaking change: the running version would lose its `project` column.
  for (const c of ['blue', 'green'] as EnvName[]) writeFileSync(join(d.env(c).dir, 'migrations', '004_rename_project.sql'), 'ALTER TABLE time_entries RENAME COLUMN project TO project_code;\n');
}, 180_000);

afterAll(async () => {
  await d?.stop();
});

describe('the maintenance playbook behind HAProxy', () => {
  let load: LoadReport;
  let window = { from: 0, to: 0 };
  const before = { fingerprints: {} as Record<string, string>, rows: {} as Record<string, string> };

  it('answers only the maintenance 503 during the window and nothing but 2xx after it, migrating both databases with the breaking change', async () => {
    before.fingerprints = await fingerprints();
    const l = startLoad({ baseUrl: `http://127.0.0.1:${livePort}`, clients: 6, maxDurationMs: 90_000, pauseMs: 5, timeline: true });
    await sleep(400);
    const r = await run(['run', 'maintenance', '--host', 'local', '--ci']);
    await sleep(700);
    load = await l.stop();
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);

    // The lint gate reports the breaking migration and says it was let through; the journal records it.
    expect(r.stdout).toMatch(/004_rename_project\.sql:1:\d+ rename-column/);
    expect(r.stdout).toMatch(/let through: the step allows breaking migrations/);
    const dir = lastRunDir();
    const plan = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as { plan: { gates: Array<{ allowBreaking?: boolean }> } };
    expect(plan.plan.gates.map((g) => g.allowBreaking)).toEqual([true, true]);
    const steps = readdirSync(join(dir, 'steps')).filter((s) => existsSync(join(dir, 'steps', s, 'breaking-allowed')));
    expect(steps).toHaveLength(2);

    // The window's length, reported and kept in the journal.
    const reported = Number(r.stdout.match(/maintenance window closed after (\d+) ms/)?.[1]);
    expect(reported).toBeGreaterThan(0);
    const startNs = readFileSync(join(dir, 'maintenance'), 'utf8').split(' ')[0]!;
    window = { from: Number(BigInt(startNs) / 1_000_000n), to: Number(BigInt(startNs) / 1_000_000n) + reported };

    // Only maintenance 503s in the window, none after, no connection error at all.
    const t = load.timeline;
    const rel = (xs: Answered[]) => xs.map((a) => ({ ...a, t0: a.t0 - window.from, t1: a.t1 - window.from, windowMs: reported, description: undefined }));
    const maint = (a: Answered) => a.status === 503 && a.bgColor === 'maintenance' && a.retryAfter === '30';
    expect(rel(t.filter((a) => a.status === 0)), 'connection errors').toEqual([]);
    expect(rel(t.filter((a) => a.status < 200 || (a.status > 299 && !maint(a)))), 'other failures').toEqual([]);
    const inside = t.filter((a) => a.t0 > window.from + 20 && a.t1 < window.to - 20);
    expect(inside.length).toBeGreaterThan(10);
    expect(rel(inside.filter((a) => !maint(a))), 'not the maintenance 503 inside the window').toEqual([]);
    // Every maintenance 503 was answered within the window (the host's clock is this machine's: a few ms of slack).
    expect(rel(t.filter((a) => maint(a) && (a.t1 < window.from - 20 || a.t0 > window.to + 20))), 'maintenance 503s outside the window').toEqual([]);
    const after = t.filter((a) => a.t0 > window.to + 50);
    expect(after.length).toBeGreaterThan(10);
    expect(rel(after.filter((a) => a.status < 200 || a.status > 299 || a.bgColor !== 'blue')), 'after the window').toEqual([]);
    // The page is the user's.
    const res = await fetch(`http://127.0.0.1:${livePort}/`, { signal: AbortSignal.timeout(5000) });
    await res.arrayBuffer();
    expect(res.headers.get('x-bg-color')).toBe('blue');

    // Both databases migrated; the apps run on them; traffic is back on BLUE.
    for (const c of ['blue', 'green'] as EnvName[]) {
      expect(columns(d.env(c).db)).toContain('project_code');
      before.rows[c] = rows(join(root, 'bg-backups', `${c}-${dir.split('/').at(-1)}.db`));
    }
    expect(readFileSync(join(root, 'proxy', 'live.map'), 'utf8')).toBe('live be_blue\npreview be_green\n');
    expect(readFileSync(join(root, 'proxy', 'live.map.switched'), 'utf8')).toMatch(/ blue\n$/);
    // Every write acknowledged before the window is in BLUE's database, and so is every one after it.
    const have = new Set(sql(d.blue.db, "SELECT description FROM time_entries WHERE description LIKE 'load-%'").split('\n'));
    expect(load.acked.filter((a) => !have.has(a.description))).toEqual([]);
    console.log(`[maintenance] window ${reported} ms; ${load.sent} requests: ${inside.length} inside the window (all 503), ${t.filter(maint).length} maintenance 503s in all, ${after.length} after (all 2xx)`);
  }, 120_000);

  it('shows the page while a window is open, and bg rollback restores the state of when it opened', async () => {
    // The page itself: a run that stops after opening the window (its second step fails at once).
    writeFileSync(join(root, 'half.yaml'), 'name: half\nsteps:\n  - name: open\n    action: maintenance\n    with: { op: begin }\n  - name: fail\n    action: shell\n    with: { command: "curl -s http://127.0.0.1:' + livePort + '/ > ' + join(root, 'seen.html') + '; exit 3", mutates: false }\n');
    const half = await run(['run', join(root, 'half.yaml'), '--host', 'local']);
    expect(half.exitCode, half.stderr).toBe(1);
    expect(readFileSync(join(root, 'seen.html'), 'utf8')).toBe(PAGE);
    expect(readFileSync(join(root, 'proxy', 'live.map'), 'utf8')).toBe('live be_blue\npreview be_green\n');

    // Undo the maintenance run (the failed one above is rolled back already).
    const r = await run(['rollback', '--host', 'local', '--run', lastRunDirOf('maintenance'), '--accept-data-loss']);
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(await fingerprints()).toEqual(before.fingerprints);
    for (const c of ['blue', 'green'] as EnvName[]) {
      expect(columns(d.env(c).db)).toContain('project');
      expect(rows(d.env(c).db)).toBe(before.rows[c]);
    }
    // Writes acknowledged before the window opened are there; those after it went with the migrated database.
    const have = new Set(sql(d.blue.db, "SELECT description FROM time_entries WHERE description LIKE 'load-%'").split('\n'));
    const acked = load.timeline.filter((a) => a.post && a.status === 201);
    const beforeWindow = acked.filter((a) => a.t1 < window.from);
    expect(beforeWindow.length).toBeGreaterThan(0);
    expect(beforeWindow.filter((a) => !have.has(a.description!))).toEqual([]);
    expect(acked.filter((a) => a.t0 > window.to && have.has(a.description!))).toEqual([]);
    const res = await fetch(`http://127.0.0.1:${livePort}/api/health`, { signal: AbortSignal.timeout(5000) });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-bg-color')).toBe('blue');
    expect(readFileSync(join(root, 'proxy', 'live.map'), 'utf8')).toBe('live be_blue\npreview be_green\n');
    expect((await d.jlist()).filter((p) => p.status === 'online')).toHaveLength(3);
  }, 120_000);

  it('runs without a proxy too: the apps are stopped meanwhile, and the window is reported', async () => {
    const r = await bg(['--inventory', join(root, 'noproxy.yaml'), 'run', 'maintenance', '--host', 'local', '--ci'], { cwd: root, env: { ...d.childEnv() }, timeoutMs: 120_000 });
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/maintenance window closed after \d+ ms \(no proxy: connections were refused while the apps were stopped\)/);
    for (const c of ['blue', 'green'] as EnvName[]) {
      expect(columns(d.env(c).db)).toContain('project_code');
      expect((await d.health(c)).httpStatus).toBe(200);
    }
  }, 120_000);
});

/** The id of the newest run of a playbook (its journal's meta.json). */
function lastRunDirOf(playbook: string): string {
  const runs = readdirSync(join(root, 'journal', 'runs')).sort().reverse();
  return runs.find((id) => (JSON.parse(readFileSync(join(root, 'journal', 'runs', id, 'meta.json'), 'utf8')) as { playbook?: string }).playbook === playbook)!;
}
