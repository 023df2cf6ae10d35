// The README's demo: bg's phases, for real, on this machine (the `local` host, no SSH).
// The example app runs twice under a real pm2, BLUE and GREEN, each with its own SQLite database,
// on the public ports at first; bg puts Debian's HAProxy in front of them (cutover), runs phase1
// (backups, migrations, health checks), drift, phase2 (both envs onto one shared database) and
// switches live to GREEN and back; then it releases v2 of the app (test/harness/app-versions.ts: a
// nullable column, shown in its health JSON) to GREEN with `bg release`, which switches live to it,
// and `bg rollback` puts live back on BLUE (v1). phase2, the switches, the release and the rollback
// run while a client sends requests and writes through the proxy; it prints failed requests and
// lost writes, then removes everything.
// `npm run demo -- --keep` leaves the sandbox and the apps running; `-- --postgres` runs the
// phases on PostgreSQL instead (scripts/demo-postgres.ts).
import { spawn, spawnSync } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deployBlueGreen, ensureExampleApp, inventoryDocument, shq, type BlueGreen } from '../test/harness/pm2.js';
import { bg, ensureHaproxy, keep, ownPorts, say } from './demo-common.js';
import { startLoad, type LoadReport } from '../test/harness/load-client.js';
import { buildVersion } from '../test/harness/app-versions.js';

/** Acknowledged writes of a load not found (by their unique description) in a database. */
function lostWrites(r: LoadReport, db: string): number {
  const have = new Set(execFileSync('sqlite3', [db, "SELECT description FROM time_entries WHERE description LIKE 'load-%'"], { encoding: 'utf8', maxBuffer: 1 << 28 }).split('\n'));
  return r.acked.filter((a) => !have.has(a.description)).length;
}

interface Live {
  color: string | null;
  version: string;
  billable?: boolean;
}

/** What answers on the live port: its color (X-App-Color) and version (v1's health JSON has none); undefined when no health JSON comes back. */
async function liveApp(port: number): Promise<Live | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/api/health`, { signal: AbortSignal.timeout(5000) });
    const body = (await res.json()) as { version?: string; billable?: boolean };
    return { color: res.headers.get('x-app-color'), version: body.version ?? 'v1', ...(body.billable !== undefined ? { billable: body.billable } : {}) };
  } catch {
    return undefined;
  }
}

/** Polls the live port every 20 ms until `color` answers: the milliseconds that took (undefined when stopped first). */
function whenLive(port: number, color: string): { ms: Promise<number | undefined>; stop: () => void } {
  let stopped = false;
  const t0 = Date.now();
  const ms = (async () => {
    while (!stopped) {
      if ((await liveApp(port))?.color === color) return Date.now() - t0;
      await new Promise((r) => setTimeout(r, 20));
    }
    return undefined;
  })();
  return { ms, stop: () => void (stopped = true) };
}

function describe(l: Live | undefined): string {
  if (!l) return 'nothing';
  return `${l.color ?? 'no color'}, ${l.version}${l.billable !== undefined ? `, billable column: ${l.billable ? 'yes' : 'no'}` : ''}`;
}

interface Stage {
  dep: BlueGreen;
  root: string;
  /** Where hosts.yaml is and bg runs. */
  work: string;
  livePort: number;
  shared: string;
  writeInventory: (release?: { install: string; keep: number }) => void;
}

/**
 * v2 built here as a directory (as CI would), released to GREEN, the idle color, with bg release
 * (which switches live to it), then bg rollback: live back on BLUE (v1), while the client writes.
 */
async function releaseAndRollBack(s: Stage): Promise<{ code: number; failed: number; lost: number }> {
  const v2 = buildVersion(s.dep.appSource, join(s.root, 'build-v2'), 'v2');
  // `npm ci` would build better-sqlite3 from source (a minute): the release links the node_modules
  // the demo installed in examples/app instead (v2 has the same lockfile), as the colors' dirs do.
  const install = `ln -s ${shq(join(s.dep.appSource, 'node_modules'))} node_modules`;
  s.writeInventory({ install, keep: 2 });
  say('Releasing v2 (migration 004 adds a nullable column; its health JSON says version v2)');
  console.log(`   hosts.yaml now has release: { install: ${install}, keep: 2 },`);
  console.log("   and each color's migrate command runs the release's migrator through its link: node current/migrate.js");
  console.log(`   v2 built in ${v2} (from examples/app, which stays v1)`);
  console.log(`   live (:${s.livePort}) answers: ${describe(await liveApp(s.livePort))}`);

  say(`bg release --host local --source ${v2}   (to GREEN, the idle color: fetch, install, link, back up, migrate, start, gate, switch) while the client keeps writing through the proxy`);
  const load = startLoad({ baseUrl: `http://127.0.0.1:${s.livePort}`, clients: 4, maxDurationMs: 120_000 });
  const rel = await bg(['release', '--host', 'local', '--source', v2], s.work);
  const afterRelease = rel.code === 0 ? await liveApp(s.livePort) : undefined;
  if (afterRelease) console.log(`   live (:${s.livePort}) answers: ${describe(afterRelease)}`);
  let rb = rel;
  let afterRollback: Live | undefined;
  if (rel.code === 0) {
    say("bg rollback --host local   (live back on BLUE, v1, which never stopped; then GREEN's link and app as before; the additive column stays)");
    const t0 = Date.now();
    const back = whenLive(s.livePort, 'blue');
    rb = await bg(['rollback', '--host', 'local'], s.work);
    const rbMs = Date.now() - t0;
    back.stop();
    const backMs = await back.ms;
    afterRollback = rb.code === 0 ? await liveApp(s.livePort) : undefined;
    if (afterRollback) {
      const when = backMs === undefined ? '' : `BLUE answered there ${(backMs / 1000).toFixed(1)} s after bg rollback started (its first undo); `;
      console.log(`   live (:${s.livePort}) answers: ${describe(afterRollback)}; ${when}bg rollback took ${(rbMs / 1000).toFixed(1)} s in all`);
    }
  }
  const report = await load.stop();
  const lost = lostWrites(report, s.shared);
  console.log(`   requests during the release and the rollback: ${report.sent} (answered by blue ${report.byColor['blue'] ?? 0}, green ${report.byColor['green'] ?? 0}), failed: ${report.failed}; writes acknowledged: ${report.acked.length}, lost: ${lost}`);
  const wrongLive =
    rb.code !== 0 ? ''
    : afterRelease?.color !== 'green' || afterRelease.version !== 'v2' || afterRelease.billable !== true ? `after the release live should be green on v2 with its column, not ${describe(afterRelease)}`
    : afterRollback?.color !== 'blue' || afterRollback.version !== 'v1' ? `after the rollback live should be blue on v1, not ${describe(afterRollback)}`
    : '';
  if (wrongLive) console.error(`\nDemo FAILED: ${wrongLive}`);
  return { code: rb.code !== 0 ? rb.code : wrongLive ? 1 : 0, failed: report.failed, lost };
}

async function main(): Promise<number> {
  if (!ensureHaproxy()) return 2;
  say('The example app (examples/app): installing it the first time builds better-sqlite3 (about a minute)');
  await ensureExampleApp(undefined, (line) => console.log(`   ${line}`));

  // pm2's socket path must stay short: a short temporary root.
  const root = mkdtempSync(join(tmpdir(), 'bgd-'));
  let d: BlueGreen | undefined;
  try {
    say(`Deploying BLUE (live) and GREEN (staging) under pm2 in ${root}`);
    d = await deployBlueGreen({ root, migrateTo: { blue: '001', green: '001' }, seed: { blue: 40, green: 0 } });
    console.log(`   BLUE  ${d.blue.dir}  port ${d.blue.port} (public: live), 40 time entries, schema at migration 001`);
    console.log(`   GREEN ${d.green.dir}  port ${d.green.port} (public: preview), empty, schema at migration 001`);
    // The inventory describes the setup after the cutover: HAProxy on the two public ports, each
    // color on a loopback port of its own.
    const own = await ownPorts(d);
    const livePort = d.blue.port;
    const work = join(root, 'work');
    execFileSync('mkdir', ['-p', work]);
    const dep = d;
    // With `release`, the inventory as a team has it once it ships code with bg release: the
    // `release:` settings, and each color's migrate command naming the release through its link.
    const writeInventory = (release?: { install: string; keep: number }) =>
      writeFileSync(
        join(work, 'hosts.yaml'),
        inventoryDocument(
          dep.inventoryYaml('local', {
            path: [dep.binDir],
            environment: { PM2_HOME: dep.pm2Home },
            shared_db: join(root, 'database-shared.db'),
            backups: { dir: join(root, 'bg-backups'), keep: 20 },
            journal: join(root, 'journal'),
            envs: Object.fromEntries(
              (['blue', 'green'] as const).map((c) => [c, { port: own[c], health: `http://127.0.0.1:${own[c]}/api/health`, ...(release ? { migrate: 'node current/migrate.js' } : {}) }]),
            ),
            ...(release ? { release } : {}),
            proxy: {
              kind: 'haproxy', live_port: dep.blue.port, preview_port: dep.green.port, bind: '127.0.0.1',
              config: join(root, 'proxy', 'haproxy.cfg'), map: join(root, 'proxy', 'live.map'), socket: join(root, 'proxy', 'admin.sock'),
              run: { kind: 'pm2', app: 'bg-proxy' }, color_header: 'X-App-Color',
            },
          }),
        ),
      );
    writeInventory();

    say('bg validate');
    await bg(['validate'], work);

    say(`bg run cutover --host local   (one time: HAProxy takes the public ports ${d.blue.port} and ${d.green.port}, BLUE and GREEN move to ${own.blue} and ${own.green})`);
    const c = await bg(['run', 'cutover', '--host', 'local'], work);
    if (c.code !== 0) return c.code;

    say('bg plan phase1 --host local --check   (the plan, and the read-only pre-flight checks)');
    const plan = await bg(['plan', 'phase1', '--host', 'local', '--check'], work, { quiet: true });
    const lines = plan.out.split('\n');
    const pre = lines.findIndex((l) => l.startsWith('Pre-flight on'));
    console.log([...lines.slice(0, 3), '   … every pre-flight check and every exact command of every step (bg plan phase1 --host local) …', ...lines.slice(pre)].join('\n'));

    say('bg run phase1 --host local   (back up both, migrate GREEN, health, migrate BLUE, health)');
    const p1 = await bg(['run', 'phase1', '--host', 'local'], work);
    if (p1.code !== 0) return p1.code;

    say('bg run drift --host local   (same schema and applied migrations in both envs?)');
    await bg(['run', 'drift', '--host', 'local'], work);

    say(`bg run phase2 --host local   (both envs onto one shared database) while a client sends requests and writes through the proxy (:${livePort})`);
    const shared = join(root, 'database-shared.db');
    let load = startLoad({ baseUrl: `http://127.0.0.1:${livePort}`, clients: 4, maxDurationMs: 120_000 });
    const p2 = await bg(['run', 'phase2', '--host', 'local'], work);
    const during2 = await load.stop();
    const lost2 = lostWrites(during2, shared);
    console.log(`   requests during phase2: ${during2.sent}, failed: ${during2.failed}; writes acknowledged: ${during2.acked.length}, missing from the shared database: ${lost2}; slowest request ${during2.maxMs} ms (held by HAProxy while writes were frozen)`);
    if (p2.code !== 0) return p2.code;

    say('bg switch --host local --to green, then --to blue, while the client keeps writing through the proxy');
    load = startLoad({ baseUrl: `http://127.0.0.1:${livePort}`, clients: 4, maxDurationMs: 120_000 });
    const toGreen = await bg(['switch', '--host', 'local', '--to', 'green'], work);
    const toBlue = toGreen.code === 0 ? await bg(['switch', '--host', 'local', '--to', 'blue'], work) : toGreen;
    const duringSwitch = await load.stop();
    const lostS = lostWrites(duringSwitch, shared);
    console.log(`   requests during the switches: ${duringSwitch.sent} (answered by blue ${duringSwitch.byColor['blue'] ?? 0}, green ${duringSwitch.byColor['green'] ?? 0}), failed: ${duringSwitch.failed}; writes acknowledged: ${duringSwitch.acked.length}, lost: ${lostS}`);
    if (toBlue.code !== 0) return toBlue.code;

    const r = await releaseAndRollBack({ dep, root, work, livePort, shared, writeInventory });
    if (r.code !== 0) return r.code;
    const failed = during2.failed + duringSwitch.failed + r.failed;
    const lost = lost2 + lostS + r.lost;

    say('bg status --host local');
    await bg(['status', '--host', 'local'], work);

    say('bg history --host local');
    await bg(['history', '--host', 'local'], work);
    console.log(`\nFailed requests: ${failed}. Lost writes: ${lost}.`);
    console.log(failed === 0 && lost === 0 ? 'Demo done: HAProxy in front, both envs migrated, verified and sharing one database, live switched to GREEN and back, v2 released to GREEN and rolled back to v1 on BLUE; no request failed, no acknowledged write lost.' : '\nDemo FAILED: requests failed or acknowledged writes are missing');
    return failed === 0 && lost === 0 ? 0 : 1;
  } finally {
    if (keep) console.log(`\n(kept ${root}; stop the apps with: PM2_HOME=${d?.pm2Home} ${d?.binDir}/pm2 kill)`);
    else {
      await d?.stop();
      rmSync(root, { recursive: true, force: true });
    }
  }
}

// `npm run demo -- --postgres`: the same phases with BLUE and GREEN on PostgreSQL (scripts/demo-postgres.ts).
process.exitCode = process.argv.includes('--postgres') ? await (await import('./demo-postgres.js')).demoPostgres() : await main();
