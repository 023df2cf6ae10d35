import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_UP_TO_DATE } from '../../src/plan/actions/migrate.js';
import { oneStep, plan, problems, RUN, runStep, sh, undoStep } from './actions-helpers.js';
import { fakePm2Daemon } from './fake-pm2-daemon.js';

const FAKE_PM2 = new URL('../fixtures/phases/fake-pm2', import.meta.url).pathname;
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
const sql = (db: string, q: string) => execFileSync('sqlite3', [db, q], { encoding: 'utf8' }).trim();

describe('migrate plan', () => {
  const planned = plan(oneStep('migrate', 'env: green'));
  const step = planned.steps[0]!;

  it("runs the env's migrate command in its dir", () => {
    expect(step.run).toEqual([{ cmd: 'cd /home/ubuntu/TimeTracking-GREEN/server && npm run migrate:prod', label: 'migrate green' }]);
    expect(step.mutates).toBe(true);
  });

  it("refuses to start without this run's backup (its undo restores it)", () => {
    expect(step.capture[0]!.cmd).toBe(`bg_migrate_capture "$HOME"/.bg/runs/${RUN}/steps/1 /home/ubuntu/bg-backups/green-${RUN}.db green`);
  });

  it('verifies by running the command again: it must say it had nothing to do; and quick_check', () => {
    expect(step.verify.map((c) => c.cmd)).toEqual([
      `bg_migrate_again /home/ubuntu/TimeTracking-GREEN/server 'npm run migrate:prod' '${DEFAULT_UP_TO_DATE}'`,
      'bg_db_ok_after /home/ubuntu/TimeTracking-GREEN/server/database.db migrate',
    ]);
    const pending = plan(oneStep('migrate', 'env: green\nwith: { pending: node migrate.js --pending }')).steps[0]!;
    expect(pending.verify[0]!.cmd).toBe("bg_migrate_pending /home/ubuntu/TimeTracking-GREEN/server 'node migrate.js --pending'");
  });

  it("undo: one call of bg_restore_db after the guard; the discard check names the rows the backup lacks", () => {
    expect(step.undo[0]!.cmd).toBe(
      `bg_undo_if "$HOME"/.bg/runs/${RUN}/steps/1/backup 'nothing to undo: the migration never started'\n` +
        `bg_restore_db /home/ubuntu/TimeTracking-GREEN/server/database.db /home/ubuntu/bg-backups/green-${RUN}.db timetracking-green 15 ${RUN} rolled-back ` +
        `'bg: cannot undo the migration of green: this run'\\''s backup /home/ubuntu/bg-backups/green-${RUN}.db is missing' quick`,
    );
    expect(step.discardCheck?.[0]!.cmd).toBe(
      `bg_rows_since /home/ubuntu/bg-backups/green-${RUN}.db /home/ubuntu/TimeTracking-GREEN/server/database.db migrations green ${RUN} 'after this run'\\''s backup, not in the restored database'`,
    );
    expect(planned.preflight.map((c) => c.label)).toEqual(['sqlite3 is installed', '/home/ubuntu/TimeTracking-GREEN/server exists', 'PRAGMA quick_check of /home/ubuntu/TimeTracking-GREEN/server/database.db is ok', 'pm2 knows the app timetracking-green']);
  });

  it('lists the live schema and the migration files for the lint gate with one call; applied or pending by the migrations table', () => {
    expect(planned.gates.map((g) => g.cmd)).toEqual([
      `bg_migration_listing /home/ubuntu/TimeTracking-GREEN/server/migrations /home/ubuntu/TimeTracking-GREEN/server/database.db 'SELECT name FROM "migrations"' 'bg: no migrations directory migrations in /home/ubuntu/TimeTracking-GREEN/server (set the env'\\''s migrations_dir or with.migrations_dir, or with.lint: false)'`,
    ]);
    const base = mkdtempSync(join(tmpdir(), 'bg-mfiles-'));
    dirs.push(base);
    mkdirSync(join(base, '-m'));
    writeFileSync(join(base, '-m', '001_a.sql'), 'CREATE TABLE a(x);');
    writeFileSync(join(base, '-m', "010_it's.sql"), 'CREATE TABLE b(x);');
    writeFileSync(join(base, '-m', 'notes.txt'), 'no');
    sql(join(base, 'db'), `CREATE TABLE "odd ""m"""(name TEXT); INSERT INTO "odd ""m""" VALUES ('001_a');`);
    const inventory = `hosts:\n  h:\n    local: true\n    envs:\n      blue: { dir: ${JSON.stringify(base)}, db: db, migrate: make }\n`;
    const s = plan(oneStep('migrate', 'env: blue\nwith: { migrations_dir: "-m", migrations_table: \'odd "m"\' }'), { host: 'h', inventory });
    // The database's live schema (read-only), then the files.
    expect(sh(s.gates[0]!.cmd)).toMatchObject({
      code: 0,
      stdout: `@@schema live\nCREATE TABLE IF NOT EXISTS "odd ""m"""(name TEXT);\n@@applied 001_a.sql\nCREATE TABLE a(x);\n@@pending 010_it's.sql\nCREATE TABLE b(x);\n`,
    });
    const none = plan(oneStep('migrate', 'env: blue\nwith: { migrations_dir: nothing }'), { host: 'h', inventory });
    expect(sh(none.gates[0]!.cmd)).toMatchObject({ code: 1, stderr: expect.stringContaining('bg: no migrations directory nothing in') });
  });

  it('quotes values templated into with.command', () => {
    const s = plan(oneStep('migrate', 'env: green\nwith: { command: "node migrate.js --to {{ vars.to }}" }'), { vars: { to: "x; rm -rf / #'" } }).steps[0]!;
    expect(s.run[0]!.cmd).toBe(`cd /home/ubuntu/TimeTracking-GREEN/server && node migrate.js --to 'x; rm -rf / #'\\'''`);
  });

  it('reports an env without a migrate command or a db', () => {
    expect(problems(oneStep('migrate', 'env: blue'), { host: 'box' })).toEqual([expect.stringMatching(/with\.command: env `blue` has no `migrate` command in the inventory/)]);
    const inventory = 'hosts:\n  h:\n    local: true\n    envs:\n      blue: { dir: /srv/b, migrate: make migrate }\n';
    expect(problems(oneStep('migrate', 'env: blue'), { host: 'h', inventory })).toEqual([expect.stringMatching(/env: env `blue` has no `db` in the inventory/)]);
  });
});

describe('migrate through a real sh and sqlite3', () => {
  /** env blue in a temp dir: a WAL database with rows, this run's backup of it, and a stand-in pm2. */
  function setup(opts: { backup?: boolean; app?: boolean } = {}) {
    const base = mkdtempSync(join(tmpdir(), 'bg-migrate-'));
    dirs.push(base);
    const dir = join(base, "it's blue");
    mkdirSync(dir);
    const db = join(dir, 'database.db');
    sql(db, "PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, x TEXT); INSERT INTO t(x) VALUES ('a'), ('b');");
    const backups = join(base, 'backups');
    mkdirSync(backups);
    if (opts.backup !== false) sql(db, `VACUUM INTO '${join(backups, `blue-${RUN}.db`).replace(/'/g, "''")}'`);
    const state = join(base, 'pm2.json');
    writeFileSync(state, JSON.stringify([{ name: 'web', pid: 500, status: 'online', restarts: 0 }]));
    const inventory = `hosts:
  box:
    local: true
    journal: ${base}/journal
    backups: { dir: ${backups} }
    path: [${FAKE_PM2}]
    environment: { FAKE_PM2_STATE: ${state}, PM2_HOME: ${fakePm2Daemon(base)} }
    envs:
      blue: { dir: ${JSON.stringify(dir)}, db: database.db${opts.app === false ? '' : ', app: web'}, migrate: "sqlite3 database.db 'ALTER TABLE t ADD COLUMN y'" }
`;
    const step = plan(oneStep('migrate', 'env: blue\nwith: { pending: "printf \'\'", release_timeout: 1s }'), { host: 'box', inventory }).steps[0]!;
    return { dir, db, step, state, backup: join(backups, `blue-${RUN}.db`) };
  }

  it('migrates, and undo restores the backup, keeps the migrated file aside and reports rows written since', () => {
    const { dir, db, step } = setup();
    expect(runStep(step)).toMatchObject({ code: 0, phase: 'done' });
    expect(sql(db, "SELECT group_concat(name) FROM pragma_table_info('t')")).toBe('id,x,y');
    sql(db, "INSERT INTO t(x, y) VALUES ('written after the backup', 1)");
    expect(sh(step.discardCheck![0]!.cmd).stdout).toMatch(/blue: rows written to .* after this run's backup, not in the restored database .*: t 1 rows/);

    const undo = undoStep(step);
    expect(undo.code, undo.stderr).toBe(0);
    expect(undo.stdout).toContain('stopped web');
    expect(undo.stdout).toContain('started web');
    expect(sql(db, "SELECT group_concat(name) FROM pragma_table_info('t')")).toBe('id,x');
    expect(sql(db, 'SELECT count(*) FROM t')).toBe('2');
    expect(sql(db, 'PRAGMA journal_mode')).toBe('wal');
    const aside = readdirSync(dir).find((f) => f.startsWith('database.db.rolled-back-'))!;
    expect(sql(join(dir, aside), "SELECT x FROM t WHERE y = 1")).toBe('written after the backup');
    expect(sh(step.discardCheck![0]!.cmd).stdout).toBe('');
  });

  it("refuses to migrate without this run's backup; undo then has nothing to do", () => {
    const { db, step } = setup({ backup: false });
    const r = runStep(step);
    expect(r).toMatchObject({ code: 1, phase: 'capture' });
    expect(r.stderr).toContain('put a backup step for blue before migrate');
    expect(undoStep(step)).toMatchObject({ code: 0, stdout: expect.stringContaining('nothing to undo') });
    expect(sql(db, "SELECT group_concat(name) FROM pragma_table_info('t')")).toBe('id,x');
  });

  it('undo fails loudly when the backup has gone', () => {
    const { step, backup } = setup();
    expect(runStep(step)).toMatchObject({ code: 0 });
    rmSync(backup);
    const undo = undoStep(step);
    expect(undo.code).toBe(1);
    expect(undo.stderr).toMatch(/cannot undo the migration of blue: this run's backup .* is missing/);
  });

  it('undo refuses to replace a database that a process still has open', async () => {
    const { db, step } = setup({ app: false });
    expect(runStep(step)).toMatchObject({ code: 0 });
    const holder = spawn('sh', ['-c', 'exec 3<"$0"; sleep 5', db], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 200));
    try {
      const undo = undoStep(step);
      expect(undo.code).toBe(1);
      expect(undo.stderr).toMatch(new RegExp(`still open by process\\(es\\) .*${holder.pid}`));
      expect(sql(db, "SELECT group_concat(name) FROM pragma_table_info('t')")).toBe('id,x,y');
    } finally {
      holder.kill();
    }
    expect(existsSync(`${db}.restore-tmp`)).toBe(false);
  });
});

