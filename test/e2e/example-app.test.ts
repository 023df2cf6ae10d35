/**
 * The example app and the pm2 harness that later bg e2e tests and the demo stand on:
 * BLUE and GREEN deployed under a private pm2, migrations, writes, .env + pm2 --update-env,
 * the continuous writer, and a clean stop.
 */
import { existsSync, lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { deployBlueGreen, inventoryDocument, writer, type BlueGreen } from '../harness/pm2.js';

let root = '';
let bg: BlueGreen | undefined;

function deployment(): BlueGreen {
  if (!bg) throw new Error('harness not deployed');
  return bg;
}

async function getJson(url: string, init?: RequestInit): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.json() };
}

/** Alive and not a zombie (a killed daemon may linger as <defunct> until its parent reaps it). */
async function processAlive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return !/^\d+ \(.*\) Z/.test(stat);
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'bg-ex-'));
  // BLUE only at 001 so there is pending work; GREEN fully migrated.
  bg = await deployBlueGreen({ root, migrateTo: { blue: '001', green: 'all' }, seed: { blue: 3 } });
}, 600_000); // generous: installs examples/app (native build) if node_modules is missing

afterAll(async () => {
  await bg?.stop();
  if (root) await rm(root, { recursive: true, force: true });
}, 60_000);

describe('example app under pm2', () => {
  it('lays out both envs as in DESIGN.md and answers health on its own port', async () => {
    const d = deployment();
    expect(d.blue.dir).toBe(join(root, 'TimeTracking-BLUE', 'server'));
    expect(d.green.dir).toBe(join(root, 'TimeTracking-GREEN', 'server'));
    expect(d.blue.port).not.toBe(d.green.port);
    expect(lstatSync(join(d.blue.dir, 'node_modules')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(d.green.dir, 'node_modules'))).toBe(join(d.appSource, 'node_modules'));
    expect(existsSync(d.pm2Bin)).toBe(true);

    const blueEnv = await readFile(d.blue.envFile, 'utf8');
    expect(blueEnv).toContain(`PORT=${d.blue.port}`);
    expect(blueEnv).toContain('APP_ENV=blue');
    expect(blueEnv).toContain('DB_PATH=database.db');

    const blue = await d.health('blue');
    const green = await d.health('green');
    expect(blue.httpStatus).toBe(200);
    expect(green.httpStatus).toBe(200);
    expect(blue.body).toMatchObject({ status: 'ok', env: 'blue', port: d.blue.port, migrations: 1 });
    expect(green.body).toMatchObject({ status: 'ok', env: 'green', port: d.green.port, migrations: 3 });
    expect(blue.body.db).toBe(realpathSync(d.blue.db));
    expect(green.body.db).toBe(realpathSync(d.green.db));

    const apps = await d.jlist();
    expect(apps.map((a) => [a.name, a.status]).sort()).toEqual([
      ['timetracking-green', 'online'],
      ['timetracking-server', 'online'],
    ]);
    expect(await d.pid('blue')).toBe(blue.body.pid);
    expect(await d.pid('green')).toBe(green.body.pid);
  });

  it('migrate: lists pending, applies them in order with npm run migrate:prod, then reports none', async () => {
    const d = deployment();
    const pending = await d.migrate('blue', { args: ['--pending'] });
    expect(pending.exitCode).toBe(0);
    expect(pending.stdout.trim().split('\n')).toEqual(['002_add_project.sql', '003_index.sql']);

    const first = await d.migrate('blue', { viaNpm: true });
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/Applied 002_add_project\.sql\nApplied 003_index\.sql/);

    const again = await d.migrate('blue', { viaNpm: true });
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain('No pending migrations');
    expect((await d.migrate('blue', { args: ['--pending'] })).stdout).toBe('');

    const status = await d.migrate('green', { args: ['--status', '--json'] });
    const parsed = JSON.parse(status.stdout) as { pending: string[]; migrations: Array<{ name: string; applied_at: string | null }> };
    expect(parsed.pending).toEqual([]);
    expect(parsed.migrations.map((m) => m.name)).toEqual(['001_create_time_entries.sql', '002_add_project.sql', '003_index.sql']);

    // The running app sees the new schema without a restart.
    expect((await d.health('blue')).body.migrations).toBe(3);
  });

  it('a failing migration from MIGRATIONS_DIR exits non-zero, rolls back, and stays pending', async () => {
    const d = deployment();
    const dir = join(root, 'extra-migrations');
    await mkdir(dir, { recursive: true });
    for (const f of ['001_create_time_entries.sql', '002_add_project.sql', '003_index.sql']) {
      await writeFile(join(dir, f), await readFile(join(d.appSource, 'migrations', f), 'utf8'));
    }
    await writeFile(join(dir, '004_broken.sql'), 'CREATE TABLE half_done (x);\nINSERT INTO no_such_table VALUES (1);\n');
    const r = await d.migrate('green', { env: { MIGRATIONS_DIR: dir } });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('Failed 004_broken.sql');
    const pending = await d.migrate('green', { args: ['--pending'], env: { MIGRATIONS_DIR: dir } });
    expect(pending.stdout.trim()).toBe('004_broken.sql');
    // The real sqlite3 CLI is part of the suite's setup: a failure to read the database fails the test.
    const tables = await execa('sqlite3', [d.green.db, "SELECT name FROM sqlite_master WHERE name = 'half_done'"], { reject: false });
    expect(tables.exitCode, tables.stderr).toBe(0);
    expect(tables.stdout.trim()).toBe('');
    expect((await d.health('green')).body.migrations).toBe(3);
  });

  it('POST /api/entries acknowledges a committed row; count and listing see it', async () => {
    const d = deployment();
    const before = (await getJson(`${d.blue.entries}/count`)).body as { count: number; maxId: number };
    expect(before.count).toBe(3); // seeded

    const post = await getJson(d.blue.entries, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ description: 'wrote the harness', minutes: 5, project: 'bg' }),
    });
    expect(post.status).toBe(201);
    const { id } = post.body as { id: number };
    expect(id).toBe(before.maxId + 1);

    const after = (await getJson(`${d.blue.entries}/count`)).body as { count: number; maxId: number };
    expect(after).toEqual({ count: 4, maxId: id });
    const list = (await getJson(`${d.blue.entries}?after=${before.maxId}`)).body as { entries: Array<Record<string, unknown>> };
    expect(list.entries).toEqual([expect.objectContaining({ id, description: 'wrote the harness', minutes: 5, project: 'bg' })]);

    const bad = await getJson(d.blue.entries, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"minutes":1}' });
    expect(bad.status).toBe(400);
    // GREEN has its own database.
    expect(((await getJson(`${d.green.entries}/count`)).body as { count: number }).count).toBe(0);
  });

  it('pm2 restart --update-env after editing .env: /api/config shows the new ALLOWED_ORIGINS', async () => {
    const d = deployment();
    const oldPid = (await d.health('green')).body.pid;
    expect(((await getJson(`${d.green.url}/api/config`)).body as Record<string, unknown>)['ALLOWED_ORIGINS']).toBeNull();

    await d.setDotenv('green', 'ALLOWED_ORIGINS', 'https://a.example,https://b.example');
    expect(await readFile(d.green.envFile, 'utf8')).toMatch(/^ALLOWED_ORIGINS=https:\/\/a\.example,https:\/\/b\.example$/m);
    await d.pm2(['restart', d.green.app, '--update-env']);
    const h = await d.waitHealthy('green', { notPid: oldPid, timeoutMs: 10_000 });
    expect(h.pid).not.toBe(oldPid);
    expect(await d.pid('green')).toBe(h.pid);

    const cfg = (await getJson(`${d.green.url}/api/config`)).body as Record<string, unknown>;
    expect(cfg['ALLOWED_ORIGINS']).toBe('https://a.example,https://b.example');
    const cors = await fetch(`${d.green.url}/api/config`, { headers: { origin: 'https://b.example' } });
    expect(cors.headers.get('access-control-allow-origin')).toBe('https://b.example');
    await cors.body?.cancel();
    // BLUE untouched.
    expect(((await getJson(`${d.blue.url}/api/config`)).body as Record<string, unknown>)['ALLOWED_ORIGINS']).toBeNull();
  });

  it('writer records every acknowledged id, and each is in the database', async () => {
    const d = deployment();
    const w = writer(d.blue.entries, { tag: 'harness-writer', intervalMs: 1 });
    await w.waitForAcks(50, 10_000);
    const report = await w.stop();
    expect(report.stoppedBy).toBe('stop');
    expect(report.failures).toBe(0);
    expect(report.ids.length).toBeGreaterThanOrEqual(50);
    expect(new Set(report.ids).size).toBe(report.ids.length);
    expect(report.acked.every((a) => a.env === 'blue')).toBe(true);

    const firstId = Math.min(...report.ids);
    const rows = (await getJson(`${d.blue.entries}?after=${firstId - 1}&limit=10000`)).body as { entries: Array<{ id: number; description: string }> };
    const byId = new Map(rows.entries.map((r) => [r.id, r.description]));
    for (const a of report.acked) expect(byId.get(a.id)).toBe(a.description);
  });

  it('writer keeps going through a pm2 restart and only counts 201s as acknowledged', async () => {
    const d = deployment();
    // In front of the real app: every third write the app committed (201 with its id) reaches the
    // writer as a 500 with the same body, as a proxy failing after the commit would answer.
    const sent: Record<number, number> = {};
    const answeredAs500: number[] = [];
    let n201 = 0;
    const front = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      let status = 502;
      let body = '{"error":"app down"}';
      try {
        const up = await fetch(`${d.green.url}${req.url}`, { method: req.method, headers: { 'content-type': 'application/json' }, body: Buffer.concat(chunks), signal: AbortSignal.timeout(5000) });
        status = up.status;
        body = await up.text();
        if (status === 201 && ++n201 % 3 === 0) {
          answeredAs500.push((JSON.parse(body) as { id: number }).id);
          status = 500;
        }
      } catch {
        // the app is restarting: 502
      }
      sent[status] = (sent[status] ?? 0) + 1;
      res.writeHead(status, { 'content-type': 'application/json' }).end(body);
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    try {
      const w = writer(`http://127.0.0.1:${(front.address() as AddressInfo).port}`, { tag: 'through-restart', intervalMs: 2 });
      await w.waitForAcks(10);
      const oldPid = await d.pid('green');
      await d.pm2(['restart', d.green.app]);
      await d.waitHealthy('green', { notPid: oldPid, timeoutMs: 10_000 });
      const n = w.acked.length;
      await w.waitForAcks(n + 10);
      const report = await w.stop();
      const rows = (await getJson(`${d.green.entries}?limit=10000`)).body as { entries: Array<{ id: number; description: string }> };
      const byId = new Map(rows.entries.map((r) => [r.id, r.description]));
      for (const a of report.acked) expect(byId.get(a.id)).toBe(a.description);

      // Only the 201s are acknowledged: each answer the writer got is either an ack or a failure.
      expect(report.acked).toHaveLength(sent[201] ?? 0);
      expect(report.attempts).toBe(report.acked.length + report.failures);
      for (const [status, count] of Object.entries(sent)) if (status !== '201') expect(report.failuresByReason[`HTTP ${status}`]).toBe(count);
      // Rows the app committed but answered with a 500 are in the database, never in `acked`.
      expect(answeredAs500.length).toBeGreaterThan(0);
      const ackedIds = new Set(report.ids);
      for (const id of answeredAs500) {
        expect(byId.has(id), `row ${id}`).toBe(true);
        expect(ackedIds.has(id), `row ${id}`).toBe(false);
      }
    } finally {
      front.closeAllConnections(); // the writer's keep-alive sockets would hold close() open
      await new Promise<void>((r) => front.close(() => r()));
    }
  });

  it('envPrefix() puts the npm pm2 and PM2_HOME in front of a shell command; inventoryYaml() is a bg host block', async () => {
    const d = deployment();
    const sh = await execa('sh', ['-c', `${d.envPrefix()}command -v pm2; pm2 jlist`], { env: { PATH: '/usr/bin:/bin' }, extendEnv: false });
    const [which, ...rest] = sh.stdout.split('\n');
    expect(which).toBe(d.pm2Bin);
    expect(rest.join('\n')).toContain('timetracking-server');
    expect(d.childEnv()).toMatchObject({ PM2_HOME: d.pm2Home });

    const doc = parse(inventoryDocument(d.inventoryYaml('local'), d.inventoryYaml('box', { ssh: { host: '127.0.0.1', port: 2222, user: 'bg' }, shared_db: null }))) as {
      hosts: Record<string, Record<string, unknown>>;
    };
    expect(doc.hosts['local']).toEqual({
      local: true,
      envs: {
        blue: { dir: d.blue.dir, app: 'timetracking-server', port: d.blue.port, db: 'database.db', health: d.blue.health, migrate: 'npm run migrate:prod' },
        green: { dir: d.green.dir, app: 'timetracking-green', port: d.green.port, db: 'database.db', health: d.green.health, migrate: 'npm run migrate:prod' },
      },
      shared_db: join(root, 'database-shared.db'),
      backups: { dir: join(root, 'bg-backups'), keep: 20 },
    });
    expect(doc.hosts['box']).toMatchObject({ ssh: { host: '127.0.0.1', port: 2222, user: 'bg' } });
    expect(doc.hosts['box']).not.toHaveProperty('local');
    expect(doc.hosts['box']).not.toHaveProperty('shared_db');
  });

  it('stop() kills the pm2 daemon and both apps', async () => {
    const d = deployment();
    const pids = [await d.pid('blue'), await d.pid('green')];
    const daemonPid = Number((await readFile(join(d.pm2Home, 'pm2.pid'), 'utf8')).trim());
    expect(await processAlive(daemonPid)).toBe(true);
    await d.stop();
    for (const pid of [...pids, daemonPid]) expect(await processAlive(pid), `pid ${pid}`).toBe(false);
    await expect(fetch(d.blue.health, { signal: AbortSignal.timeout(2000) })).rejects.toThrow();
    await d.stop(); // idempotent, and starts no new daemon
    expect(existsSync(join(d.pm2Home, 'pm2.pid'))).toBe(false);
  });
});
