/**
 * bg release over SSH, for real: the example app deployed twice under a real pm2 (v1), Debian's
 * HAProxy in front (run by that pm2), bg reaching the host through a real OpenSSH sshd started by
 * the suite (test/harness/sshd.ts; as root, who owns the deployment). v2 is built from
 * examples/app (test/harness/app-versions.ts): a nullable column added by migration 004. In order
 * on one deployment:
 *
 *   a tarball of v2 on this machine, streamed over the SSH connection, released to GREEN under
 *   load: 0 failed, every acknowledged write in its color's database, live answers v2 → bg rollback
 *   --restore-db without --accept-data-loss, while GREEN holds rows written after the release's
 *   backup: exit 2, the discard report, nothing changed → with --accept-data-loss: live back on
 *   BLUE (v1), GREEN's database back to the backup (schema fingerprint and every row), the
 *   migrated file kept aside → v2 released from a git tag the host fetches (the migration runs
 *   again) → bg rollback: live back on BLUE (v1), the database change kept.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';
import { deployBlueGreen, freePort, inventoryDocument, type BlueGreen, type EnvName } from '../harness/pm2.js';
import { startLoad, type LoadReport } from '../harness/load-client.js';
import { buildRepo, buildTarball, buildVersion } from '../harness/app-versions.js';
import { sshClientEnv, startSshd, type SshdHandle } from '../harness/sshd.js';
import { haproxyProxy, startHaproxy } from '../harness/haproxy.js';

let root = '';
let journal = '';
let d: BlueGreen;
let sshd: SshdHandle;
let cliEnv: Record<string, string>;
let livePort = 0;
let previewPort = 0;
/** GREEN before the first release: its schema fingerprint (bg status) and `.dump`. */
let greenBefore: { fingerprint: unknown; dump: string };
/** The first release: its run id, and the writes GREEN acknowledged while it was live. */
let first: { runId: string; greenWrites: number[] };

const run = (args: string[]) => bg(['--inventory', join(root, 'hosts.yaml'), ...args], { cwd: root, env: cliEnv, timeoutMs: 180_000 });
const sql = (db: string, q: string) => execFileSync('sqlite3', ['-batch', '-cmd', '.timeout 5000', db, q], { encoding: 'utf8' }).trim();
const hasBillable = (db: string) => sql(db, "SELECT count(*) FROM pragma_table_info('time_entries') WHERE name = 'billable'");

interface Live {
  color: string | null;
  version: string;
  billable?: boolean;
}

/** What answers on the live port: its color and version (v1 has no `version` in its health JSON). */
async function liveApp(): Promise<Live> {
  const res = await fetch(`http://127.0.0.1:${livePort}/api/health`, { signal: AbortSignal.timeout(5000) });
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

/** GREEN's schema fingerprint as bg status reports it (over SSH). */
async function greenFingerprint(): Promise<unknown> {
  const s = await run(['status', '--host', 'prod', '--json']);
  expect(s.exitCode, s.stderr).toBe(0);
  return (JSON.parse(s.stdout) as Array<{ envs: Record<string, { fingerprint: unknown }> }>)[0]!.envs['green']!.fingerprint;
}

/** What a refused rollback must leave as it was: live color, GREEN's link, app, rows and schema, the run's journal, the lock. */
async function hostState(): Promise<unknown> {
  const green = d.env('green');
  const runDir = join(journal, 'runs', first.runId);
  return {
    live: await liveApp(),
    link: readlinkSync(join(green.dir, 'current')),
    script: await scriptOf('green'),
    dump: sql(green.db, '.dump'),
    journal: readdirSync(runDir).map((f) => [f, statSync(join(runDir, f)).isFile() ? readFileSync(join(runDir, f), 'utf8') : 'dir']),
    locked: existsSync(join(journal, 'lock')),
  };
}

beforeAll(async () => {
  // Short: pm2's socket path <root>/.pm2/rpc.sock must stay under ~100 characters.
  root = mkdtempSync(join(tmpdir(), 'bgrs-'));
  journal = join(root, 'journal');
  [sshd, d] = await Promise.all([startSshd({ user: 'root' }), deployBlueGreen({ root, seed: { blue: 3, green: 3 } })]);
  livePort = await freePort();
  do previewPort = await freePort();
  while (previewPort === livePort);
  buildRepo(d.appSource, join(root, 'repo'));
  buildTarball(buildVersion(d.appSource, join(root, 'build-v2'), 'v2'), join(root, 'v2.tgz'), 'timetracking-2.0.0');
  const migrate = 'node current/migrate.js';
  const host = d.inventoryYaml('prod', {
    ssh: { host: '127.0.0.1', port: sshd.port, user: sshd.user, key: sshd.clientKeyPath },
    path: [d.binDir],
    environment: { PM2_HOME: d.pm2Home },
    journal,
    envs: { blue: { migrate }, green: { migrate } },
    // The example app's node_modules (better-sqlite3 builds from source for a minute): linked, not installed.
    release: { repo: join(root, 'repo'), install: `ln -s ${join(d.appSource, 'node_modules')} node_modules`, keep: 2 },
    proxy: haproxyProxy(join(root, 'proxy'), livePort, previewPort),
  });
  writeFileSync(join(root, 'hosts.yaml'), inventoryDocument(host));
  // Only what reaches the test sshd: no PM2_HOME or PATH of the deployment (the inventory gives them to the host).
  cliEnv = sshClientEnv(sshd.knownHostsPath);
  const p = await run(['run', 'proxy', '--host', 'prod']);
  if (p.exitCode !== 0) throw new Error(p.stderr);
  await startHaproxy(d, join(root, 'proxy'));
  greenBefore = { fingerprint: await greenFingerprint(), dump: sql(d.env('green').db, '.dump') };
}, 240_000);

afterAll(async () => {
  await d?.stop();
  await sshd?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
}, 60_000);

describe('bg release over SSH behind HAProxy', () => {
  it('releases a tarball of v2 streamed over the SSH connection to GREEN under load: 0 failed, no acknowledged write lost, live answers v2', async () => {
    expect(await liveApp()).toEqual({ color: 'blue', version: 'v1' });
    expect(hasBillable(d.env('green').db)).toBe('0');
    const load = startLoad({ baseUrl: `http://127.0.0.1:${livePort}`, clients: 8, maxDurationMs: 120_000 });
    await new Promise((r) => setTimeout(r, 300));
    const r = await run(['release', '--host', 'prod', '--source', join(root, 'v2.tgz')]);
    // GREEN takes writes for a while: rows its database gets after the release's backup.
    await new Promise((r) => setTimeout(r, 500));
    const report = await load.stop();
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(report.failed, JSON.stringify(report.failures)).toBe(0);
    expect(report.byColor.blue ?? 0).toBeGreaterThan(0);
    expect(report.byColor.green ?? 0).toBeGreaterThan(0);
    expect(missingWrites(report)).toBe(0);
    expect(await liveApp()).toEqual({ color: 'green', version: 'v2', billable: true });
    expect((await d.health('blue')).httpStatus).toBe(200);
    // bg reached the host through the test sshd, and what arrived is the tarball byte for byte.
    expect(sshd.log()).toMatch(/Accepted publickey for root from 127\.0\.0\.1/);
    const green = d.env('green').dir;
    const link = readlinkSync(join(green, 'current'));
    expect(link).toMatch(/^releases\/\d{8}T/);
    const meta = readFileSync(join(green, `${link}.bg-release`), 'utf8');
    expect(meta).toContain(`sha256=${createHash('sha256').update(readFileSync(join(root, 'v2.tgz'))).digest('hex')}\n`);
    expect(await scriptOf('green')).toBe(join(green, 'current', 'server.js'));
    first = { runId: link.replace(/^releases\//, ''), greenWrites: report.acked.filter((a) => a.color === 'green').map((a) => a.id) };
    expect(existsSync(join(journal, 'runs', first.runId, 'run.json'))).toBe(true);
    const s = await run(['status', '--host', 'prod']);
    expect(s.stdout).toMatch(/green: .*\[LIVE\]\n {4}release \S+: from archive \S*v2\.tgz; deployed \d{4}-/);
  });

  it('bg rollback --restore-db refuses without --accept-data-loss while GREEN has rows written after the backup: exit 2, nothing changed', async () => {
    const before = await hostState();
    const r = await run(['rollback', '--host', 'prod', '--restore-db']);
    expect(r.exitCode, r.stderr + r.stdout).toBe(2);
    expect(r.stderr).toMatch(/would discard the data listed above; pass --accept-data-loss/);
    // The discard report names the rows of GREEN that the backup lacks.
    expect(r.stdout).toMatch(/discards:\n[\s\S]*time_entries \d+ rows?/);
    expect(await hostState()).toEqual(before);
  });

  it('bg rollback --restore-db --accept-data-loss: live back on BLUE (v1), GREEN back to the backup (fingerprint and rows), the migrated file kept aside', async () => {
    const green = d.env('green');
    const backup = join(root, 'bg-backups', `green-${first.runId}.db`);
    expect(sql(backup, '.dump')).toBe(greenBefore.dump);
    const r = await run(['rollback', '--host', 'prod', '--restore-db', '--accept-data-loss']);
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(await liveApp()).toEqual({ color: 'blue', version: 'v1' });
    expect(existsSync(join(green.dir, 'current'))).toBe(false);
    expect(await scriptOf('green')).toBe(join(green.dir, 'server.js'));
    expect((await d.waitHealthy('green')).status).toBe('ok');
    expect(r.stdout + r.stderr).not.toMatch(/database changes of green kept/);
    // The database as the backup holds it: no billable column, none of the rows written after it.
    expect(hasBillable(green.db)).toBe('0');
    expect(sql(green.db, '.dump')).toBe(sql(backup, '.dump'));
    expect(await greenFingerprint()).toEqual(greenBefore.fingerprint);
    // What was discarded is kept aside, not deleted: the migrated file with GREEN's acknowledged writes.
    const aside = `${green.db}.rolled-back-${first.runId}`;
    expect(hasBillable(aside)).toBe('1');
    expect(first.greenWrites.length).toBeGreaterThan(0);
    expect(sql(aside, `SELECT count(*) FROM time_entries WHERE id IN (${first.greenWrites.join(',')})`)).toBe(String(first.greenWrites.length));
  });

  it('releases v2 from a git tag the host fetches (the migration runs again), and bg rollback puts live back on v1', async () => {
    const r = await run(['release', '--host', 'prod', '--ref', 'v2.0.0']);
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(await liveApp()).toEqual({ color: 'green', version: 'v2', billable: true });
    expect(hasBillable(d.env('green').db)).toBe('1');
    const s = await run(['status', '--host', 'prod']);
    expect(s.stdout).toMatch(/release \S+: ref v2\.0\.0, commit [0-9a-f]{12}, from git /);
    const back = await run(['rollback', '--host', 'prod']);
    expect(back.exitCode, back.stderr + back.stdout).toBe(0);
    expect(await liveApp()).toEqual({ color: 'blue', version: 'v1' });
    expect(existsSync(join(d.env('green').dir, 'current'))).toBe(false);
    expect(hasBillable(d.env('green').db)).toBe('1');
    expect(back.stdout + back.stderr).toMatch(/database changes of green kept/);
  });
});
