// The README's demo: bg's phases, for real, on this machine (the `local` host, no SSH).
// The example app runs twice under a real pm2, BLUE and GREEN, each with its own SQLite database;
// bg runs phase1 (backups, migrations, health checks), drift, and phase2 (both envs onto one shared
// database) while a client keeps writing to BLUE, then shows the result and removes everything.
// `npm run demo -- --keep` leaves the sandbox and the apps running.
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deployBlueGreen, ensureExampleApp, inventoryDocument, writer, type BlueGreen } from '../test/harness/pm2.js';

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

async function main(): Promise<number> {
  say('The example app (examples/app): installing it the first time builds better-sqlite3 (about a minute)');
  await ensureExampleApp(undefined, (line) => console.log(`   ${line}`));

  // pm2's socket path must stay short: a short temporary root.
  const root = mkdtempSync(join(tmpdir(), 'bgd-'));
  let d: BlueGreen | undefined;
  try {
    say(`Deploying BLUE (live) and GREEN (staging) under pm2 in ${root}`);
    d = await deployBlueGreen({ root, migrateTo: { blue: '001', green: '001' }, seed: { blue: 40, green: 0 } });
    console.log(`   BLUE  ${d.blue.dir}  port ${d.blue.port}, 40 time entries, schema at migration 001`);
    console.log(`   GREEN ${d.green.dir}  port ${d.green.port}, empty, schema at migration 001`);
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
        }),
      ),
    );

    say('bg validate');
    await bg(['validate'], work);

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

    say('bg run phase2 --host local   (both envs onto one shared database) while a client writes to BLUE');
    const w = writer(d.blue.entries, { intervalMs: 5, concurrency: 2, tag: 'demo' });
    const p2 = await bg(['run', 'phase2', '--host', 'local'], work);
    const report = await w.stop();
    const shared = join(root, 'database-shared.db');
    const ids = new Set(execFileSync('sqlite3', [shared, 'SELECT description FROM time_entries'], { encoding: 'utf8' }).split('\n'));
    const lost = report.acked.filter((a) => !ids.has(a.description));
    console.log(`   writes acknowledged by BLUE during phase2: ${report.acked.length}; missing from the shared database: ${lost.length}; refused while writes were frozen: ${report.failures}`);
    if (p2.code !== 0) return p2.code;

    say('bg status --host local');
    await bg(['status', '--host', 'local'], work);

    say('bg history --host local');
    await bg(['history', '--host', 'local'], work);
    console.log(lost.length === 0 ? '\nDemo done: both envs migrated, verified, and sharing one database; no acknowledged write lost.' : '\nDemo FAILED: acknowledged writes are missing');
    return lost.length === 0 ? 0 : 1;
  } finally {
    if (keep) console.log(`\n(kept ${root}; stop the apps with: PM2_HOME=${d?.pm2Home} ${d?.binDir}/pm2 kill)`);
    else {
      await d?.stop();
      rmSync(root, { recursive: true, force: true });
    }
  }
}

process.exitCode = await main();
