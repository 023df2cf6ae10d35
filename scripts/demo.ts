// The README's demo: bg's phases, for real, on this machine (the `local` host, no SSH).
// The example app runs twice under a real pm2, BLUE and GREEN, each with its own SQLite database,
// on the public ports at first; bg puts Debian's HAProxy in front of them (cutover), runs phase1
// (backups, migrations, health checks), drift, phase2 (both envs onto one shared database) and
// switches live to GREEN and back, the last two while a client sends requests and writes through
// the proxy; it prints failed requests and lost writes, then removes everything.
// `npm run demo -- --keep` leaves the sandbox and the apps running.
import { spawn, spawnSync } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deployBlueGreen, ensureExampleApp, freePort, inventoryDocument, type BlueGreen } from '../test/harness/pm2.js';
import { startLoad, type LoadReport } from '../test/harness/load-client.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const bgBin = join(repo, 'bin', 'bg.js');
const keep = process.argv.includes('--keep');
const bold = (s: string) => (process.stdout.isTTY && !process.env.NO_COLOR ? `\x1b[1m${s}\x1b[0m` : s);
const say = (s: string) => console.log(`\n${bold(`== ${s}`)}`);

function bg(args: string[], cwd: string, opts: { quiet?: boolean } = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bgBin, ...args], { cwd, stdio: opts.quiet ? ['ignore', 'pipe', 'inherit'] : 'inherit' });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d));
    child.on('exit', (code) => resolve({ code: code ?? 1, out }));
  });
}

/** HAProxy from Debian, installed with apt-get as test/global-setup.ts does (as root); else how to. */
function ensureHaproxy(): boolean {
  const have = () => existsSync('/usr/sbin/haproxy') || spawnSync('haproxy', ['-v']).status === 0;
  if (have()) return true;
  if (process.getuid?.() !== 0 || spawnSync('apt-get', ['--version']).status !== 0) {
    console.error('The demo runs HAProxy in front of the apps and it is not installed: sudo apt-get install haproxy (Debian/Ubuntu), then npm run demo again.');
    return false;
  }
  say('HAProxy is not installed: apt-get install haproxy');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', '-qq', 'haproxy'], { stdio: 'inherit', env }).status === 0;
  if (!install() && !(spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env }).status === 0 && install())) {
    console.error('apt-get install haproxy failed');
    return false;
  }
  return have();
}

/** Acknowledged writes of a load not found (by their unique description) in a database. */
function lostWrites(r: LoadReport, db: string): number {
  const have = new Set(execFileSync('sqlite3', [db, "SELECT description FROM time_entries WHERE description LIKE 'load-%'"], { encoding: 'utf8', maxBuffer: 1 << 28 }).split('\n'));
  return r.acked.filter((a) => !have.has(a.description)).length;
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
    const own = { blue: await freePort(), green: await freePort() };
    while (own.green === own.blue || [d.blue.port, d.green.port].includes(own.green) || [d.blue.port, d.green.port].includes(own.blue)) {
      own.blue = await freePort();
      own.green = await freePort();
    }
    const livePort = d.blue.port;
    const work = join(root, 'work');
    execFileSync('mkdir', ['-p', work]);
    writeFileSync(
      join(work, 'hosts.yaml'),
      inventoryDocument(
        d.inventoryYaml('local', {
          path: [d.binDir],
          environment: { PM2_HOME: d.pm2Home },
          shared_db: join(root, 'database-shared.db'),
          backups: { dir: join(root, 'bg-backups'), keep: 20 },
          journal: join(root, 'journal'),
          envs: Object.fromEntries((['blue', 'green'] as const).map((c) => [c, { port: own[c], health: `http://127.0.0.1:${own[c]}/api/health` }])),
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
    const failed = during2.failed + duringSwitch.failed;
    const lost = lost2 + lostS;

    say('bg status --host local');
    await bg(['status', '--host', 'local'], work);

    say('bg history --host local');
    await bg(['history', '--host', 'local'], work);
    console.log(`\nFailed requests: ${failed}. Lost writes: ${lost}.`);
    console.log(failed === 0 && lost === 0 ? 'Demo done: HAProxy in front, both envs migrated, verified and sharing one database, live switched to GREEN and back; no request failed, no acknowledged write lost.' : '\nDemo FAILED: requests failed or acknowledged writes are missing');
    return failed === 0 && lost === 0 ? 0 : 1;
  } finally {
    if (keep) console.log(`\n(kept ${root}; stop the apps with: PM2_HOME=${d?.pm2Home} ${d?.binDir}/pm2 kill)`);
    else {
      await d?.stop();
      rmSync(root, { recursive: true, force: true });
    }
  }
}

process.exitCode = await main();
