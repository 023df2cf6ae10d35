/**
 * PostgreSQL envs over SSH, for real: bg reaches the host through the suite's own OpenSSH sshd
 * (test/harness/sshd.ts, as root), the host's psql/pg_dump/pg_restore talk to the suite's own
 * PostgreSQL cluster (test/harness/postgres.ts) with a password from bg's environment. In order:
 * backup + schema-check while `ps` and /proc/PID/cmdline are sampled (the password is found in no
 * process listing, output, --json, dry-run, journal file or backup file) → drift reports a column
 * type difference and an index only in one database → db-inspect: sizes, rows, newest writes, and
 * which database holds rows the other lacks → a wrong password: exit 5 naming host, env, database
 * and libpq's reason, and nothing on the host changed.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';
import { startPgCluster, type PgCluster } from '../harness/postgres.js';
import { sshClientEnv, startSshd, type SshdHandle } from '../harness/sshd.js';

const exec = promisify(execFile);
let pg: PgCluster;
let sshd: SshdHandle;
let work: string;
// Distinctive, and as hostile to a shell as a password gets.
const marker = randomBytes(6).toString('hex');
const password = `Pw-${marker} 'q' "d" $(id) \`id\` -x\\n`;
const cliEnv = (pw = password) => ({ ...sshClientEnv(sshd.knownHostsPath), BG_TEST_PGPW: pw });
const run = (args: string[], pw?: string) => bg(['--inventory', join(work, 'hosts.yaml'), ...args], { cwd: work, env: cliEnv(pw), timeoutMs: 60_000 });

const SCHEMA = `
CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL UNIQUE, created_at timestamptz DEFAULT now());
CREATE TABLE posts (id bigserial PRIMARY KEY, user_id int REFERENCES users(id), body text);
CREATE TABLE migrations (name text PRIMARY KEY, ran timestamptz DEFAULT clock_timestamp());
INSERT INTO migrations (name) VALUES ('001_init');
INSERT INTO users (email, created_at) SELECT 'u' || g || '@x', '2026-01-01 00:00:00+00'::timestamptz + g * interval '1 hour' FROM generate_series(1, 20) g;
INSERT INTO posts (user_id, body) SELECT 1 + g % 20, 'p' || g FROM generate_series(1, 60) g;
`;

/** Every file under a directory (recursively), with its content. */
async function filesUnder(dir: string): Promise<Array<{ path: string; text: string }>> {
  const out: Array<{ path: string; text: string }> = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const p = join(e.parentPath, e.name);
    out.push({ path: p, text: (await readFile(p)).toString('latin1') });
  }
  return out;
}

/** The hosts' output of every command in a `--json` run's events (the screen shows only each step's last line). */
function commandOutput(jsonStdout: string): string {
  return jsonStdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { type: string; stdout?: string; stderr?: string })
    .filter((e) => e.type === 'command')
    .map((e) => `${e.stdout ?? ''}\n${e.stderr ?? ''}`)
    .join('\n');
}

/** Sample every process's command line (ps and /proc/PID/cmdline) until stopped: what was seen, and how often. */
function sampleProcesses(): { stop(): Promise<{ lines: Set<string>; samples: number }> } {
  const lines = new Set<string>();
  let samples = 0;
  let going = true;
  const loop = (async () => {
    while (going) {
      const { stdout } = await exec('ps', ['-eo', 'args'], { maxBuffer: 1 << 24 }).catch(() => ({ stdout: '' }));
      for (const l of stdout.split('\n')) lines.add(l);
      for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
        try {
          lines.add(readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0/g, ' '));
        } catch {
          // Gone meanwhile.
        }
      }
      samples++;
      // A breath between samples: the machine's two cores are shared.
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    async stop() {
      going = false;
      await loop;
      return { lines, samples };
    },
  };
}

beforeAll(async () => {
  [pg, sshd] = await Promise.all([startPgCluster(), startSshd({ user: 'root' })]);
  work = mkdtempSync(join(tmpdir(), 'bg-pgssh-'));
  await pg.psql('postgres', `ALTER ROLE bg PASSWORD '${password.replace(/'/g, "''")}';`);
  for (const db of ['app_blue', 'app_green']) await pg.createDatabase(db, SCHEMA);
  mkdirSync(join(work, 'blue'));
  mkdirSync(join(work, 'green'));
  writeFileSync(
    join(work, 'hosts.yaml'),
    [
      'hosts:',
      '  db1:',
      `    ssh: { host: 127.0.0.1, port: ${sshd.port}, user: ${sshd.user}, key: ${sshd.clientKeyPath} }`,
      `    journal: ${join(work, 'journal')}`,
      `    backups: { dir: ${join(work, 'backups')}, keep: 5 }`,
      '    vars: { pgpw: { env: BG_TEST_PGPW, secret: true } }',
      '    envs:',
      `      blue: { dir: ${join(work, 'blue')}, db: ${JSON.stringify(pg.inventoryDb('app_blue'))} }`,
      `      green: { dir: ${join(work, 'green')}, db: ${JSON.stringify(pg.inventoryDb('app_green'))} }`,
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(work, 'backup-check.yaml'),
    'name: pg-backup-check\nsteps:\n  - { name: back up blue, action: backup, env: blue }\n  - { name: back up green, action: backup, env: green }\n  - { name: same schema, action: schema-check }\n',
  );
  writeFileSync(join(work, 'inspect.yaml'), 'name: pg-inspect\nsteps:\n  - { name: inspect, action: db-inspect }\n');
}, 60_000);

afterAll(async () => {
  await pg?.stop();
  await sshd?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('PostgreSQL envs over SSH', () => {
  it('backup + schema-check: the password is in no process listing, output, --json, dry-run, journal or backup file', async () => {
    const sampler = sampleProcesses();
    const r = await run(['run', join(work, 'backup-check.yaml'), '--host', 'db1', '--json']);
    const { lines, samples } = await sampler.stop();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(sshd.log()).toMatch(/Accepted publickey for root/);
    // The sampling saw the client tools run (else it proves nothing).
    const seen = [...lines].join('\n');
    expect(seen).toMatch(/pg_dump -Fc/);
    expect(seen).toMatch(/psql -X/);
    expect(samples).toBeGreaterThan(5);

    const dry = await run(['run', join(work, 'backup-check.yaml'), '--host', 'db1', '--dry-run']);
    const plan = await run(['plan', join(work, 'backup-check.yaml'), '--host', 'db1', '--json']);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(plan.exitCode, plan.stderr).toBe(0);
    // The pre-flight ran for each PostgreSQL env: reachable, pg_dump new enough, no old idle transaction, room for the dumps.
    expect(plan.stdout).toContain('bg_pg_reach');
    expect(plan.stdout).toContain('bg_pg_dump_version');
    expect(plan.stdout).toContain('bg_pg_idle_locks');
    expect(plan.stdout).toContain('bg_pg_space_for');

    const files = [...(await filesUnder(join(work, 'journal'))), ...(await filesUnder(join(work, 'backups')))];
    expect(files.some((f) => f.path.endsWith('run.json'))).toBe(true);
    expect(files.some((f) => f.path.endsWith('.pgdump'))).toBe(true);
    const places: Array<[string, string]> = [
      ['ps and /proc/*/cmdline', seen],
      ['bg run --json stdout', r.stdout],
      ['bg run --json stderr', r.stderr],
      ['dry-run', dry.stdout + dry.stderr],
      ['plan --json', plan.stdout + plan.stderr],
      ...files.map((f): [string, string] => [f.path, f.text]),
    ];
    for (const [where, text] of places) {
      expect(text.includes(password), `the password in ${where}`).toBe(false);
      expect(text.includes(marker), `the password's distinctive part in ${where}`).toBe(false);
    }
  }, 60_000);

  it('drift: a column type difference and an index only in one database are both reported', async () => {
    await pg.psql('app_green', 'SET ROLE bg; ALTER TABLE posts ALTER COLUMN body TYPE varchar(200); CREATE INDEX posts_body ON posts (body);');
    const r = await run(['run', 'drift', '--host', 'db1']);
    expect(r.exitCode).toBe(1);
    const out = r.stdout + r.stderr;
    expect(out).toMatch(/only in blue: column public\.posts\.body #3 text/);
    expect(out).toMatch(/only in green: column public\.posts\.body #3 character varying\(200\)/);
    expect(out).toMatch(/only in green: index public\.posts_body on public\.posts/);
    expect(out).not.toContain(marker);
    // bg status says so too: each database's size and fingerprint, and that the schemas differ.
    const st = await run(['status', '--host', 'db1']);
    expect(st.exitCode, st.stderr).toBe(0);
    expect(st.stdout).toMatch(/db postgres bg@127\.0\.0\.1:\d+\/app_blue, [\d.]+ MB, schema sha256:[0-9a-f]{16}, \d+ migrations/);
    expect(st.stdout).toMatch(/schemas: DIFFER/);
    expect(st.stdout + st.stderr).not.toContain(marker);
    // bg doctor runs every built-in playbook's pre-flight checks, the PostgreSQL ones too (the password on stdin).
    const doc = await run(['doctor', '--host', 'db1']);
    expect(doc.exitCode, doc.stdout + doc.stderr).toBe(0);
    expect(doc.stdout).toMatch(/✔ the PostgreSQL database of blue answers \(postgres bg@127\.0\.0\.1:\d+\/app_blue\)/);
    expect(doc.stdout + doc.stderr).not.toContain(marker);
    // So does bg plan --check (before: the checks ran without the password and failed).
    const check = await run(['plan', 'drift', '--host', 'db1', '--check']);
    expect(check.exitCode, check.stdout + check.stderr).toBe(0);
    // With a wrong password: the reason, not a failure of bg status.
    const bad = await run(['status', '--host', 'db1'], `wrong-${marker}`);
    expect(bad.exitCode).toBe(0);
    expect(bad.stdout).toMatch(/db postgres bg@127\.0\.0\.1:\d+\/app_blue: cannot connect \(.*password authentication failed/);
    expect(bad.stdout + bad.stderr).not.toContain(marker);
  }, 60_000);

  it('db-inspect: sizes, rows and newest write per table, and which database holds rows the other lacks', async () => {
    // green gets a user blue lacks; the column type difference of the drift test stays (same content).
    await pg.psql('app_green', "SET ROLE bg; INSERT INTO users (email, created_at) VALUES ('late@x', '2026-02-01 12:00:00+00');");
    const r = await run(['run', join(work, 'inspect.yaml'), '--host', 'db1', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const out = commandOutput(r.stdout);
    expect(out).toMatch(/blue: PostgreSQL database app_blue, \d+ bytes/);
    expect(out).toMatch(/public\.users\s+20 rows\s+\d+ bytes\s+newest max\(created_at\) 2026-01-01 20:00:00\+00/);
    expect(out).toMatch(/public\.users\s+21 rows\s+\d+ bytes\s+newest max\(created_at\) 2026-02-01 12:00:00\+00/);
    expect(out).toMatch(/public\.posts\s+60 rows\s+\d+ bytes\s+newest no timestamp column: 60 inserted/);
    expect(out).toMatch(/rows in green that blue lacks: public\.users 1/);
    expect(out).toMatch(/green holds every row of blue/);
    expect(out).toMatch(/base for share-db: green/);
    // The log a person reads (CI's plain output) shows the whole report, not only its last line.
    const plain = await run(['run', join(work, 'inspect.yaml'), '--host', 'db1']);
    expect(plain.exitCode, plain.stderr).toBe(0);
    expect(plain.stdout).toMatch(/› blue: PostgreSQL database app_blue, \d+ bytes/);
    expect(plain.stdout).toMatch(/›\s+public\.users\s+21 rows/);
    expect(plain.stdout).toMatch(/› base for share-db: green/);

    // Both hold a row the other lacks: with base auto, db-inspect fails and says which.
    await pg.psql('app_blue', "SET ROLE bg; INSERT INTO posts (user_id, body) VALUES (1, 'only blue');");
    const both = await run(['run', join(work, 'inspect.yaml'), '--host', 'db1', '--json']);
    expect(both.exitCode).toBe(1);
    expect(commandOutput(both.stdout)).toMatch(/rows in blue that green lacks: public\.posts 1/);
    expect(commandOutput(both.stdout)).toMatch(/each database holds rows another lacks/);
  }, 60_000);

  it('a session idle in a transaction past the threshold, holding a lock on a table: pre-flight names it and nothing changes', async () => {
    const inv = readFileSync(join(work, 'hosts.yaml'), 'utf8').replace('"database":"app_blue",', '"database":"app_blue","idle_in_transaction_max":"1s",');
    expect(inv).toContain('"idle_in_transaction_max":"1s"');
    writeFileSync(join(work, 'hosts-idle.yaml'), inv);
    // A client that began a transaction, read a table and went quiet (its stdin stays open).
    const stuck = spawn('psql', ['-X', '-q', '-h', pg.host, '-p', String(pg.port), '-U', pg.user, '-d', 'app_blue'], { env: { ...process.env, PGPASSWORD: password, PGAPPNAME: 'stuck-worker' }, stdio: ['pipe', 'ignore', 'ignore'] });
    try {
      stuck.stdin.write('BEGIN; SELECT count(*) FROM users;\n');
      const holding = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'stuck-worker' AND state = 'idle in transaction' AND state_change < now() - interval '1.2 s'";
      for (let i = 0; i < 50 && (await pg.psql('postgres', holding)).trim() !== '1'; i++) await new Promise((r) => setTimeout(r, 100));
      const backupsBefore = readdirSync(join(work, 'backups')).sort();
      const r = await bg(['--inventory', join(work, 'hosts-idle.yaml'), 'run', join(work, 'backup-check.yaml'), '--host', 'db1'], { cwd: work, env: cliEnv(), timeoutMs: 60_000 });
      expect(r.exitCode, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/sessions idle in a transaction for more than 1s hold locks/);
      expect(r.stderr).toMatch(/pid \d+, user bg, application_name 'stuck-worker', idle in transaction for \d+s, holds AccessShareLock on public\.users/);
      expect(r.stderr).toContain('nothing was changed');
      expect(readdirSync(join(work, 'backups')).sort()).toEqual(backupsBefore);
    } finally {
      stuck.stdin.end();
      stuck.kill();
    }
  }, 60_000);

  it('a wrong password exits 5 before anything changes, naming host, env, database and the reason', async () => {
    const journalBefore = readdirSync(join(work, 'journal'), { recursive: true }).map(String).sort();
    const backupsBefore = readdirSync(join(work, 'backups')).map((f) => `${f} ${statSync(join(work, 'backups', f)).mtimeMs}`).sort();
    const wrong = `wrong-${marker}`;
    const r = await run(['run', join(work, 'backup-check.yaml'), '--host', 'db1'], wrong);
    expect(r.exitCode, r.stderr).toBe(5);
    expect(r.stderr).toMatch(/cannot connect to the PostgreSQL database of env blue on host db1 \(postgres bg@127\.0\.0\.1:\d+\/app_blue\): .*password authentication failed for user "bg"/);
    expect(r.stderr).toContain('nothing was changed');
    expect(r.stdout + r.stderr).not.toContain(marker);
    const check = await run(['plan', join(work, 'backup-check.yaml'), '--host', 'db1', '--check'], wrong);
    expect(check.exitCode, check.stderr).toBe(5);
    expect(check.stderr).toMatch(/password authentication failed for user "bg"/);
    // No run journaled as started (and no lock left): every file of the journal as it was.
    expect(readdirSync(join(work, 'journal'), { recursive: true }).map(String).sort()).toEqual(journalBefore);
    expect(readdirSync(join(work, 'backups')).map((f) => `${f} ${statSync(join(work, 'backups', f)).mtimeMs}`).sort()).toEqual(backupsBefore);
  }, 60_000);
});
