// `npm run demo -- --postgres`: the demo's phases with BLUE and GREEN on PostgreSQL. A throwaway
// PostgreSQL cluster of the demo's own (Debian's server binaries, initdb into a temporary
// directory, its own port and socket: test/harness/postgres.ts), the example app on it as BLUE and
// GREEN under a real pm2 (PG* variables in their .env, migrations-pg/), Debian's HAProxy in front
// (cutover); then phase1, drift, phase2 (both envs onto one shared database) and a switch to GREEN
// and back, while a client writes through the proxy. It prints failed requests and lost writes,
// checked with psql, then removes everything (`--keep` leaves it running).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deployBlueGreen, ensureExampleApp, inventoryDocument, type BlueGreen } from '../test/harness/pm2.js';
import { startLoad, type LoadReport } from '../test/harness/load-client.js';
import { pgBinDir, startPgCluster, type PgCluster } from '../test/harness/postgres.js';
import { bg, ensureHaproxy, keep, ownPorts, say } from './demo-common.js';

/** Debian's PostgreSQL server, installed with apt-get as test/global-setup.ts does (as root); else how to. */
function ensurePostgres(): boolean {
  const have = () => {
    try {
      pgBinDir();
      return spawnSync('psql', ['--version']).status === 0;
    } catch {
      return false;
    }
  };
  if (have()) return true;
  if (process.getuid?.() !== 0 || spawnSync('apt-get', ['--version']).status !== 0) {
    console.error('The PostgreSQL demo starts a cluster of its own and PostgreSQL is not installed: sudo apt-get install postgresql (Debian/Ubuntu), then npm run demo -- --postgres again.');
    return false;
  }
  say('PostgreSQL is not installed: apt-get install postgresql');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', '-qq', 'postgresql'], { stdio: 'inherit', env }).status === 0;
  if (!install() && !(spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env }).status === 0 && install())) {
    console.error('apt-get install postgresql failed');
    return false;
  }
  return have();
}

/** Acknowledged writes of a load not found (by their unique description) in a PostgreSQL database. */
async function lostWrites(pg: PgCluster, r: LoadReport, db: string): Promise<number> {
  const have = new Set((await pg.psql(db, "SELECT description FROM time_entries WHERE description LIKE 'load-%';")).split('\n'));
  return r.acked.filter((a) => !have.has(a.description)).length;
}

export async function demoPostgres(): Promise<number> {
  if (!ensureHaproxy() || !ensurePostgres()) return 2;
  say('The example app (examples/app): installing it the first time builds better-sqlite3 (about a minute)');
  await ensureExampleApp(undefined, (line) => console.log(`   ${line}`));

  const root = mkdtempSync(join(tmpdir(), 'bgdp-'));
  let d: BlueGreen | undefined;
  let pg: PgCluster | undefined;
  try {
    say('A PostgreSQL cluster of the demo\'s own (initdb in a temporary directory, its own port), databases app_blue and app_green');
    pg = await startPgCluster({ durable: true });
    for (const db of ['app_blue', 'app_green']) await pg.createDatabase(db);
    console.log(`   PostgreSQL on 127.0.0.1:${pg.port}, role ${pg.user} (its password reaches bg as a secret variable, never in a file of bg's)`);
    const cluster = pg;

    say(`Deploying BLUE (live) and GREEN (staging) on PostgreSQL under pm2 in ${root}`);
    d = await deployBlueGreen({ root, migrateTo: { blue: '001', green: '001' }, seed: { blue: 40, green: 0 }, dotenv: { blue: cluster.clientEnv('app_blue'), green: cluster.clientEnv('app_green') } });
    console.log(`   BLUE  ${d.blue.dir}  port ${d.blue.port} (public: live), database app_blue: 40 time entries, schema at migration 001`);
    console.log(`   GREEN ${d.green.dir}  port ${d.green.port} (public: preview), database app_green: empty, schema at migration 001`);
    const own = await ownPorts(d);
    const livePort = d.blue.port;
    const work = join(root, 'work');
    mkdirSync(work, { recursive: true });
    // bg reads the password from its own environment (a `secret: true` var): never in hosts.yaml.
    process.env.BG_DEMO_PGPASSWORD = pg.password;
    writeFileSync(
      join(work, 'hosts.yaml'),
      inventoryDocument(
        d.inventoryYaml('local', {
          path: [d.binDir],
          environment: { PM2_HOME: d.pm2Home },
          vars: { pg_password: { env: 'BG_DEMO_PGPASSWORD', secret: true } },
          shared_db: { postgres: { database: 'app_shared' } },
          backups: { dir: join(root, 'bg-backups'), keep: 20 },
          journal: join(root, 'journal'),
          envs: Object.fromEntries(
            (['blue', 'green'] as const).map((c) => [c, { port: own[c], health: `http://127.0.0.1:${own[c]}/api/health`, db: cluster.inventoryDb(`app_${c}`, 'pg_password'), migrate: 'node migrate.js', migrations_dir: 'migrations-pg' }]),
          ),
          proxy: {
            kind: 'haproxy', live_port: d.blue.port, preview_port: d.green.port, bind: '127.0.0.1',
            config: join(root, 'proxy', 'haproxy.cfg'), map: join(root, 'proxy', 'live.map'), socket: join(root, 'proxy', 'admin.sock'),
            run: { kind: 'pm2', app: 'bg-proxy' }, color_header: 'X-App-Color',
          },
        }),
      ),
    );

    say('bg validate');
    await bg(['validate'], work);

    say(`bg run cutover --host local   (one time: HAProxy takes the public ports ${d.blue.port} and ${d.green.port}, BLUE and GREEN move to ${own.blue} and ${own.green})`);
    const c = await bg(['run', 'cutover', '--host', 'local'], work);
    if (c.code !== 0) return c.code;

    say(`bg run phase1 --host local   (pg_dump both in one snapshot, verified by a scratch restore; migrate GREEN, health, migrate BLUE, health) while a client writes through the proxy (:${livePort})`);
    let load = startLoad({ baseUrl: `http://127.0.0.1:${livePort}`, clients: 4, maxDurationMs: 120_000 });
    const p1 = await bg(['run', 'phase1', '--host', 'local'], work);
    const during1 = await load.stop();
    const lost1 = await lostWrites(pg, during1, 'app_blue');
    console.log(`   requests during phase1: ${during1.sent}, failed: ${during1.failed}; writes acknowledged: ${during1.acked.length}, missing from app_blue: ${lost1}`);
    if (p1.code !== 0) return p1.code;

    say('bg run drift --host local   (the pg_catalog fingerprint and applied migrations of both databases)');
    await bg(['run', 'drift', '--host', 'local'], work);

    say(`bg run phase2 --host local   (both envs onto one shared database, app_shared) while the client keeps writing`);
    load = startLoad({ baseUrl: `http://127.0.0.1:${livePort}`, clients: 4, maxDurationMs: 120_000 });
    const p2 = await bg(['run', 'phase2', '--host', 'local'], work);
    const during2 = await load.stop();
    const lost2 = await lostWrites(pg, during2, 'app_shared');
    console.log(`   requests during phase2: ${during2.sent}, failed: ${during2.failed}; writes acknowledged: ${during2.acked.length}, missing from app_shared: ${lost2}; slowest request ${during2.maxMs} ms (held by HAProxy while writes were frozen)`);
    if (p2.code !== 0) return p2.code;

    say('bg switch --host local --to green, then --to blue, while the client keeps writing');
    load = startLoad({ baseUrl: `http://127.0.0.1:${livePort}`, clients: 4, maxDurationMs: 120_000 });
    const toGreen = await bg(['switch', '--host', 'local', '--to', 'green'], work);
    const toBlue = toGreen.code === 0 ? await bg(['switch', '--host', 'local', '--to', 'blue'], work) : toGreen;
    const duringS = await load.stop();
    const lostS = await lostWrites(pg, duringS, 'app_shared');
    console.log(`   requests during the switches: ${duringS.sent} (answered by blue ${duringS.byColor['blue'] ?? 0}, green ${duringS.byColor['green'] ?? 0}), failed: ${duringS.failed}; writes acknowledged: ${duringS.acked.length}, lost: ${lostS}`);
    if (toBlue.code !== 0) return toBlue.code;

    say('bg backups --host local');
    await bg(['backups', '--host', 'local'], work);

    const failed = during1.failed + during2.failed + duringS.failed;
    const lost = lost1 + lost2 + lostS;
    console.log(`\nFailed requests: ${failed}. Lost writes: ${lost}.`);
    console.log(failed === 0 && lost === 0 ? 'Demo done (PostgreSQL): HAProxy in front, both databases backed up, migrated, verified and moved onto one shared database, live switched to GREEN and back; no request failed, no acknowledged write lost.' : '\nDemo FAILED: requests failed or acknowledged writes are missing');
    return failed === 0 && lost === 0 ? 0 : 1;
  } finally {
    if (keep) console.log(`\n(kept ${root}; stop the apps with: PM2_HOME=${d?.pm2Home} ${d?.binDir}/pm2 kill; the PostgreSQL cluster on port ${pg?.port} keeps running too)`);
    else {
      await d?.stop();
      await pg?.stop();
      rmSync(root, { recursive: true, force: true });
    }
  }
}
