import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { backupFileOf } from '../../src/plan/actions/restore.js';
import { libraryFile, oneStep, plan, problems, RUN, runStep, sh, undoStep } from './actions-helpers.js';
import { fakePm2Daemon } from './fake-pm2-daemon.js';

const FAKE_PM2 = new URL('../fixtures/phases/fake-pm2', import.meta.url).pathname;
const OLD = '20261120T100000.000Z-beef';
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
const sql = (db: string, q: string) => execFileSync('sqlite3', [db, q], { encoding: 'utf8' }).trim();

describe('restore: which backup an id names', () => {
  it('takes a run id or the env\'s own file name, and nothing else', () => {
    expect(backupFileOf(OLD, 'blue')).toEqual({ file: `blue-${OLD}.db`, runId: OLD });
    expect(backupFileOf(`blue-${OLD}.db`, 'blue')).toEqual({ file: `blue-${OLD}.db`, runId: OLD });
    expect(backupFileOf(`green-${OLD}.db`, 'blue')).toMatchObject({ problem: expect.stringContaining('not a backup of env `blue`') });
    for (const bad of ['../x', `blue-${OLD}.db/../../etc`, `${OLD}/..`, '-rf', '', `blue-../${OLD}.db`, `${OLD}\n`])
      expect(backupFileOf(bad, 'blue')).toHaveProperty('problem');
  });

  it('never names a file outside the backups dir, whatever the id (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), fc.constantFrom('blue', 'green', 'a-b'), (id, env) => {
        const r = backupFileOf(id, env);
        if ('file' in r) expect(r.file).toMatch(new RegExp(`^${env}-[0-9]{8}T[0-9]{6}(\\.[0-9]{3})?Z-[0-9A-Za-z]+\\.db$`));
      }),
      { numRuns: 500 },
    );
  });

  it('is a plan problem (exit 2) in a playbook, located at with.backup', () => {
    expect(problems(oneStep('restore', `env: blue\nwith: { backup: "green-${OLD}.db" }`))).toEqual([expect.stringMatching(/with\.backup: "green-.*" is not a backup of env `blue`/)]);
  });
});

describe('restore: the commands, exactly', () => {
  it('run, verify, undo and discard check are calls of the library with every value quoted', () => {
    const s = plan(oneStep('restore', `env: blue\nwith: { backup: "${OLD}", accept_data_loss: true }`)).steps[0]!;
    const db = '/home/ubuntu/TimeTracking-BLUE/server/database.db';
    const from = `/home/ubuntu/bg-backups/blue-${OLD}.db`;
    const before = `/home/ubuntu/bg-backups/blue-${RUN}.db`;
    const record = `"$HOME"/.bg/runs/${RUN}/steps/1/backup`;
    expect(s.run.map((c) => c.cmd)).toEqual([
      `bg_restore_db ${db} ${from} timetracking-server 15 ${RUN} restored-over 'bg: no backup blue-${OLD}.db in /home/ubuntu/bg-backups (bg backups --host prod lists them)' verify ${before} ${record} 1 blue migrations`,
    ]);
    expect(s.verify.map((c) => c.cmd)).toEqual([`bg_restore_verify ${db} ${from}`]);
    expect(s.undo.map((c) => c.cmd)).toEqual([
      `bg_undo_if ${record} 'nothing to undo: the restore did not replace the database'\n` +
        `bg_restore_db ${db} ${before} timetracking-server 15 ${RUN} rolled-back 'bg: cannot undo the restore of blue: the copy taken before it, ${before}, is missing' quick`,
    ]);
    expect(s.discardCheck!.map((c) => c.cmd)).toEqual([`bg_rows_since ${before} ${db} migrations blue ${RUN} 'after the restore, not in the database as it was before it' ${record}`]);
  });
});

describe('restore through a real sh and sqlite3', () => {
  /** env blue: a WAL database with 3 rows, an older backup with 2, and a stand-in pm2 running `web`. */
  function setup(acceptDataLoss: boolean) {
    const base = mkdtempSync(join(tmpdir(), 'bg-restore-'));
    dirs.push(base);
    const dir = join(base, "it's blue");
    mkdirSync(dir);
    const db = join(dir, 'database.db');
    const backups = join(base, 'backups');
    mkdirSync(backups);
    sql(db, "PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, x TEXT); INSERT INTO t(x) VALUES ('a'), ('b');");
    sql(db, `VACUUM INTO '${join(backups, `blue-${OLD}.db`).replace(/'/g, "''")}'`);
    sql(db, "INSERT INTO t(x) VALUES ('written after the backup')");
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
      blue: { dir: ${JSON.stringify(dir)}, db: database.db, app: web }
`;
    const step = plan(oneStep('restore', `env: blue\nwith: { backup: "${OLD}", accept_data_loss: ${acceptDataLoss}, release_timeout: 1s }`), { host: 'box', inventory }).steps[0]!;
    return { base, dir, db, backups, step };
  }

  it('refuses when the database holds rows the backup lacks: app started again, nothing changed, nothing to undo', () => {
    const { db, step, dir } = setup(false);
    const r = runStep(step);
    expect(r).toMatchObject({ code: 1, phase: 'run' });
    expect(r.stderr).toContain('restoring would discard rows of blue written after the backup: t 1 rows');
    expect(r.stderr).toContain('--accept-data-loss');
    expect(sql(db, 'SELECT count(*) FROM t')).toBe('3');
    expect(readdirSync(dir).filter((f) => f.includes('restored-over'))).toEqual([]);
    expect(undoStep(step)).toMatchObject({ code: 0, stdout: expect.stringContaining('nothing to undo') });
    expect(sql(db, 'SELECT count(*) FROM t')).toBe('3');
  });

  it('accepted: copies the database first, swaps the backup in, verifies; undo puts the database back exactly', () => {
    const { db, step, dir, backups } = setup(true);
    const r = runStep(step);
    expect(r, r.stderr).toMatchObject({ code: 0, phase: 'done' });
    expect(sql(db, 'SELECT count(*) FROM t')).toBe('2');
    expect(sql(db, 'PRAGMA journal_mode')).toBe('wal');
    // The restored backup's verification is recorded; so is the copy taken before.
    expect(readFileSync(join(backups, `blue-${OLD}.db.verified`), 'utf8')).toMatch(/^\S+Z ok\n$/);
    const before = join(backups, `blue-${RUN}.db`);
    expect(sql(before, 'SELECT count(*) FROM t')).toBe('3');
    expect(readFileSync(`${before}.verified`, 'utf8')).toMatch(/ ok\n$/);
    expect(readdirSync(dir).some((f) => f.startsWith('database.db.restored-over-'))).toBe(true);

    sql(db, "INSERT INTO t(x) VALUES ('written after the restore')");
    expect(sh(step.discardCheck![0]!.cmd).stdout).toMatch(/blue: rows written to .* after the restore, .*: t 1 rows/);
    const undo = undoStep(step);
    expect(undo.code, undo.stderr).toBe(0);
    expect(undo.stdout).toContain('stopped web');
    expect(undo.stdout).toContain('started web');
    expect(sql(db, 'SELECT group_concat(x) FROM t ORDER BY id')).toBe('a,b,written after the backup');
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('%s while waiting for the file to be released: the app this step stopped is started again, the database unchanged (red team)', async (sig) => {
    const { db, step, base } = setup(true);
    // The stand-in pm2 rewrites its state file in place: a read may meet it half written.
    const state = (): { status: string } => {
      try {
        return JSON.parse(readFileSync(join(base, 'pm2.json'), 'utf8'))[0] as { status: string };
      } catch {
        return { status: 'being written' };
      }
    };
    // A process holding the database open keeps the restore waiting (release_timeout 1s, polled).
    const holder = spawn('sh', ['-c', `exec 3<"$0"; sleep 30`, db], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const cmd = step.run.map((c) => c.cmd).join('\n');
      const child = spawn('sh', ['-c', `. '${libraryFile()}'; ${cmd}`], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' }, detached: true });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += String(d)));
      child.stdout.resume();
      // Signal once the app is stopped (as bg's transport signals a step's process group).
      for (let i = 0; i < 50 && state().status !== 'stopped'; i++) await new Promise((r) => setTimeout(r, 50));
      expect(state().status).toBe('stopped');
      process.kill(-child.pid!, sig);
      const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
      expect(code).not.toBe(0);
      expect(stderr).toContain('started web again on it, unchanged');
      expect(state().status).toBe('online');
      expect(sql(db, 'SELECT count(*) FROM t')).toBe('3');
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('a backup that fails its integrity check is refused, and recorded as failed', () => {
    const { db, step, backups } = setup(true);
    writeFileSync(join(backups, `blue-${OLD}.db`), 'not a database');
    const r = runStep(step);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/fails integrity_check/);
    expect(readFileSync(join(backups, `blue-${OLD}.db.verified`), 'utf8')).toMatch(/ failed: /);
    expect(sql(db, 'SELECT count(*) FROM t')).toBe('3');
    expect(existsSync(join(backups, `blue-${RUN}.db`))).toBe(false);
  });
});
