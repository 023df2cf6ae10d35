// schema-check, db-inspect and share-db: the plans, and their shell run against real SQLite files.
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { oneStep, plan, problems, RUN, sh, undoStep } from './actions-helpers.js';
import { fakePm2Daemon } from './fake-pm2-daemon.js';

const FAKE_PM2 = new URL('../fixtures/phases/fake-pm2', import.meta.url).pathname;
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
const sql = (db: string, q: string) => execFileSync('sqlite3', [db, q], { encoding: 'utf8' }).trim();

const SCHEMA = `CREATE TABLE migrations(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL);
CREATE TABLE projects(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE time_entries(id INTEGER PRIMARY KEY AUTOINCREMENT, description TEXT NOT NULL, minutes INTEGER NOT NULL CHECK (minutes >= 0), project_id INTEGER REFERENCES projects(id) ON DELETE SET NULL, created_at TEXT NOT NULL DEFAULT (datetime('now')));
CREATE INDEX idx_created ON time_entries(created_at DESC);
CREATE VIEW recent AS SELECT * FROM time_entries WHERE created_at > datetime('now', '-1 day');
CREATE TRIGGER touch AFTER INSERT ON projects BEGIN SELECT 1; END;`;
// The same schema as another history leaves it: other creation order, quoting, spacing, ANALYZE.
const SAME_SCHEMA_OTHER_HISTORY = `CREATE TABLE "time_entries" ( "id" INTEGER PRIMARY KEY AUTOINCREMENT,
    "description" TEXT NOT NULL, "minutes" INTEGER NOT NULL CHECK (minutes >= 0),
    "project_id" INTEGER REFERENCES "projects"("id") ON DELETE SET NULL, "created_at" TEXT NOT NULL DEFAULT (datetime('now')) );
CREATE TABLE "projects" (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TRIGGER touch AFTER INSERT ON projects
BEGIN
  SELECT 1;
END;
CREATE VIEW recent AS
  SELECT * FROM time_entries
  WHERE created_at > datetime('now', '-1 day');
CREATE INDEX idx_created ON time_entries (created_at DESC);
CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL);
ANALYZE;`;

/** Two envs in a temp dir with real databases; a stand-in pm2 (apps web-blue and web-green). */
function twoEnvs(blueSql: string, greenSql: string) {
  const base = mkdtempSync(join(tmpdir(), 'bg-db-'));
  dirs.push(base);
  const env = (name: string, text: string) => {
    const dir = join(base, `TimeTracking-${name}`, "it's server");
    mkdirSync(dir, { recursive: true });
    const db = join(dir, 'database.db');
    execFileSync('sqlite3', [db], { input: `PRAGMA journal_mode=WAL;\n${text}` });
    return { dir, db };
  };
  const blue = env('BLUE', blueSql);
  const green = env('GREEN', greenSql);
  const state = join(base, 'pm2.json');
  writeFileSync(state, JSON.stringify(['web-blue', 'web-green'].map((name, i) => ({ name, pid: 500 + i, status: 'online', restarts: 0 }))));
  const shared = join(base, 'shared dir', "database-shared.db");
  const inventory = `hosts:
  box:
    local: true
    journal: ${base}/journal
    path: [${FAKE_PM2}]
    environment: { FAKE_PM2_STATE: ${state}, PM2_HOME: ${fakePm2Daemon(base)} }
    shared_db: ${JSON.stringify(shared)}
    envs:
      blue: { dir: ${JSON.stringify(blue.dir)}, db: database.db, app: web-blue }
      green: { dir: ${JSON.stringify(green.dir)}, db: database.db, app: web-green }
`;
  const step = (action: string, w = '{}') => plan(oneStep(action, `with: ${w}`), { host: 'box', inventory }).steps[0]!;
  const pm2 = () => JSON.parse(readFileSync(state, 'utf8')) as Array<{ name: string; status: string }>;
  return { base, blue, green, shared, step, pm2 };
}

const rows = (n: number, tag: string) =>
  Array.from({ length: n }, (_, i) => `INSERT INTO time_entries(id, description, minutes, created_at) VALUES (${i + 1}, '${tag} ${i + 1}', ${i}, '2026-11-0${(i % 9) + 1}');`).join('\n');
const MIGRATED = "INSERT INTO migrations VALUES ('001_init.sql', '2026-11-01');";

describe('schema-check, db-inspect, share-db plans', () => {
  it("schema-check compares blue's fingerprint with green's; read-only", () => {
    const s = plan(oneStep('schema-check', '')).steps[0]!;
    expect(s).toMatchObject({ mutates: false, run: [], undo: [] });
    expect(s.verify[0]!.cmd).toBe('bg_schema_check migrations name blue /home/ubuntu/TimeTracking-BLUE/server/database.db green /home/ubuntu/TimeTracking-GREEN/server/database.db');
    const custom = plan(oneStep('schema-check', 'with: { migrations_table: "-knex_migrations", migrations_column: "name; x" }')).steps[0]!;
    expect(custom.verify[0]!.cmd).toBe("bg_schema_check -knex_migrations 'name; x' blue /home/ubuntu/TimeTracking-BLUE/server/database.db green /home/ubuntu/TimeTracking-GREEN/server/database.db");
  });

  it('db-inspect is one call of bg_db_inspect: base, migrations table and column, then NAME DB APP per env', () => {
    const s = plan(oneStep('db-inspect', '')).steps[0]!;
    expect(s).toMatchObject({ mutates: false, verify: [], undo: [] });
    expect(s.run.map((c) => c.cmd)).toEqual([
      'bg_db_inspect auto migrations name blue /home/ubuntu/TimeTracking-BLUE/server/database.db timetracking-server green /home/ubuntu/TimeTracking-GREEN/server/database.db timetracking-green',
    ]);
    const told = plan(oneStep('db-inspect', 'with: { base: green, migrations_table: "it\'s", envs: [green, blue] }')).steps[0]!;
    expect(told.run[0]!.cmd).toBe(
      "bg_db_inspect green 'it'\\''s' name green /home/ubuntu/TimeTracking-GREEN/server/database.db timetracking-green blue /home/ubuntu/TimeTracking-BLUE/server/database.db timetracking-server",
    );
  });

  it('share-db: freeze, copy, switch, restart; verified through /proc; undone by putting each .OLD back', () => {
    const s = plan(oneStep('share-db', '')).steps[0]!;
    expect(s.run.map((c) => c.label)).toEqual([
      'freeze writes: stop the apps of blue, green, wait until nothing has their databases open',
      'same schema; pick the base; consistent copy to /home/ubuntu/database-shared.db',
      "each env's database becomes a symlink to /home/ubuntu/database-shared.db (old file kept as .OLD)",
      'start the apps of blue, green again',
    ]);
    const sd = `"$HOME"/.bg/runs/${RUN}/steps/1`;
    const tail = `${sd} /home/ubuntu/database-shared.db blue /home/ubuntu/TimeTracking-BLUE/server/database.db timetracking-server http://127.0.0.1:3000/api/health green /home/ubuntu/TimeTracking-GREEN/server/database.db timetracking-green http://127.0.0.1:3001/api/health`;
    expect(s.capture.map((c) => c.cmd)).toEqual([`bg_share_capture ${tail}`]);
    expect(s.run.map((c) => c.cmd)).toEqual([`bg_share_freeze 15 ${tail}`, `bg_share_copy auto 1 migrations name ${tail}`, `bg_share_switch ${tail}`, `bg_share_restart 30 10000 ${tail}`]);
    expect(s.verify.map((c) => c.cmd)).toEqual([`bg_share_verify_open ${tail}`, `bg_share_verify_old ${tail}`]);
    expect(s.verify[0]!.retry?.attempts).toBe(20);
    expect(s.undo.map((c) => c.cmd)).toEqual([`bg_share_undo ${RUN} 15 30 ${tail}`]);
    expect(s.discardCheck!.map((c) => c.cmd)).toEqual([`bg_share_discard ${RUN} migrations name ${tail}`]);
    const ready = plan(oneStep('share-db', 'with: { base: green, same_schema: false }'));
    expect(ready.steps[0]!.run[1]!.cmd).toBe(`bg_share_copy green 0 migrations name ${tail}`);
    expect(ready.preflight.find((c) => c.cmd.startsWith('bg_share_ready'))!.cmd).toBe(`bg_share_ready ${tail.slice(sd.length + 1)}`);
  });

  it('quotes a hostile shared_db path', () => {
    const inventory = `hosts:\n  h:\n    local: true\n    shared_db: "/srv/x; rm -rf / #'"\n    envs:\n      blue: { dir: /b, db: d.db, app: a }\n      green: { dir: /g, db: d.db, app: b }\n`;
    expect(plan(oneStep('share-db', ''), { host: 'h', inventory }).steps[0]!.run[0]!.cmd).toContain(` '/srv/x; rm -rf / #'\\''' blue /b/d.db a '' green`);
  });

  it('reports what the inventory lacks', () => {
    const noShared = `hosts:\n  h:\n    local: true\n    envs:\n      blue: { dir: /b, db: d.db, app: a }\n      green: { dir: /g, db: d.db, app: b }\n`;
    expect(problems(oneStep('share-db', ''), { host: 'h', inventory: noShared })).toEqual([expect.stringMatching(/steps\.0\.action: host `h` has no `shared_db` in the inventory/)]);
    const noApp = `hosts:\n  h:\n    local: true\n    shared_db: /s.db\n    envs:\n      blue: { dir: /b, db: d.db }\n      green: { dir: /g, db: d.db, app: b }\n`;
    expect(problems(oneStep('share-db', ''), { host: 'h', inventory: noApp })).toEqual([expect.stringMatching(/env `blue` has no `app` in the inventory/)]);
    expect(problems(oneStep('schema-check', ''), { host: 'box' })).toEqual([expect.stringMatching(/host `box` has only one env with a `db`/)]);
    expect(problems(oneStep('db-inspect', 'with: { base: purple }'))).toEqual([expect.stringMatching(/with\.base: `base` must be auto or one of blue, green/)]);
    expect(problems(oneStep('schema-check', 'with: { envs: [blue, purple] }'))).toEqual([expect.stringMatching(/with\.envs\.1: unknown env `purple`/)]);
    expect(problems(oneStep('share-db', 'env: blue'))).toEqual([expect.stringMatching(/action `share-db` takes no env/)]);
  });
});

describe('schema fingerprints through a real sh', () => {
  it('equal for the same schema reached by another history (order, quoting, spacing, ANALYZE)', () => {
    const t = twoEnvs(SCHEMA + MIGRATED, SAME_SCHEMA_OTHER_HISTORY + "INSERT INTO migrations VALUES ('001_init.sql', 'another day');");
    const r = sh(t.step('schema-check').verify[0]!.cmd);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/blue and green: same schema and migrations \(fingerprint sha256:[0-9a-f]{16}, 3 tables, 1 migrations\)/);
  });

  it('different, readably, for a missing index, a changed default, a foreign key and a migration', () => {
    const other = SAME_SCHEMA_OTHER_HISTORY.replace("CREATE INDEX idx_created ON time_entries (created_at DESC);", '')
      .replace("DEFAULT (datetime('now'))", "DEFAULT ('')")
      .replace('ON DELETE SET NULL', 'ON DELETE CASCADE');
    const t = twoEnvs(SCHEMA + MIGRATED, `${other}\nINSERT INTO migrations VALUES ('001_init.sql', 'x'), ('002_more.sql', 'y');`);
    const r = sh(t.step('schema-check').verify[0]!.cmd);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toBe('bg: the schemas of blue and green differ (6 line(s)):');
    expect(lines).toEqual(
      expect.arrayContaining([
        '  only in blue: index idx_created on time_entries (created_at desc)',
        "  only in blue: column time_entries.created_at #4 TEXT not null default datetime('now')",
        "  only in green: column time_entries.created_at #4 TEXT not null default ''",
        '  only in blue: foreign key time_entries(project_id) references projects(id) on update NO ACTION on delete SET NULL match NONE',
        '  only in green: migration 002_more.sql',
      ]),
    );
    expect(lines.at(-1)).toMatch(/^ {2}green .*database\.db: sha256:[0-9a-f]{16}$/);
  });
});

describe('db-inspect through a real sh', () => {
  it('reports sizes, tables, row counts and newest writes, and picks the env that holds every row', () => {
    const t = twoEnvs(SCHEMA + MIGRATED + rows(12, 'entry'), SCHEMA + "INSERT INTO migrations VALUES ('001_init.sql', 'other time');" + rows(7, 'entry'));
    const r = sh(t.step('db-inspect').run[0]!.cmd);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^blue: .*TimeTracking-BLUE\/it's server\/database\.db$/m);
    expect(r.stdout).toMatch(/bytes \+ \d+ bytes of WAL, journal mode wal/);
    expect(r.stdout).toMatch(/^ {2}time_entries +12 rows +newest rowid 12 +created_at 2026-11-09$/m);
    expect(r.stdout).toMatch(/^ {2}migrations +1 rows +newest rowid 1 +applied_at 2026-11-01$/m);
    expect(r.stdout).toContain('blue holds every row of green');
    expect(r.stdout).toContain('rows in blue that green lacks: time_entries 5');
    expect(r.stdout.trim().split('\n').at(-1)).toBe('base for share-db: blue (holds every row of the others)');
  });

  it('refuses to choose when each holds rows the other lacks (same id, other content counts), unless told', () => {
    const t = twoEnvs(SCHEMA + MIGRATED + rows(10, 'blue'), SCHEMA + MIGRATED + rows(3, 'blue') + "INSERT INTO time_entries(id, description, minutes) VALUES (4, 'green only', 1);");
    const r = sh(t.step('db-inspect').run[0]!.cmd);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('each database holds rows another lacks, so share-db will not choose a base:');
    expect(r.stderr).toContain('rows in green that blue lacks: time_entries 1');
    expect(r.stderr).toContain('rows in blue that green lacks: time_entries 7');
    const told = sh(t.step('db-inspect', '{ base: blue }').run[0]!.cmd);
    expect(told.code).toBe(0);
    expect(told.stdout.trim().split('\n').at(-1)).toBe("base for share-db: blue (given); rows it lacks stay in the others' .OLD files: green: time_entries 1");
  });
});

describe('share-db through a real sh (stand-in pm2: the /proc checks are covered by test/e2e/phases.test.ts)', () => {
  it('moves both envs onto a copy of the base; undo puts each own file back and keeps the shared one aside', () => {
    const t = twoEnvs(SCHEMA + MIGRATED + rows(12, 'entry'), SCHEMA + MIGRATED + rows(7, 'entry'));
    const s = t.step('share-db', '{ release_timeout: 1s }');
    const inodes = [t.blue.db, t.green.db].map((f) => statSync(f).ino);
    for (const c of [...s.capture, ...s.run]) {
      const r = sh(c.cmd);
      expect(r.code, `${c.label}: ${r.stderr}`).toBe(0);
    }
    expect(t.pm2().map((a) => a.status)).toEqual(['online', 'online']);
    for (const [i, e] of [t.blue, t.green].entries()) {
      expect(readlinkSync(e.db)).toBe(t.shared);
      expect(statSync(`${e.db}.OLD`).ino).toBe(inodes[i]);
    }
    expect(sql(t.shared, 'SELECT count(*) FROM time_entries')).toBe('12');
    expect(sql(t.shared, 'PRAGMA journal_mode')).toBe('wal');
    const old = sh(s.verify[1]!.cmd);
    expect(old.code, old.stderr).toBe(0);

    sql(t.shared, "INSERT INTO time_entries(description, minutes) VALUES ('while shared', 1)");
    expect(sh(s.discardCheck![0]!.cmd).stdout).toMatch(/rows written to .*database-shared\.db while the envs shared it, not in blue's own database: time_entries 1/);
    const undo = undoStep(s);
    expect(undo.code, undo.stderr).toBe(0);
    for (const [i, e] of [t.blue, t.green].entries()) {
      expect(lstatSync(e.db).isFile()).toBe(true);
      expect(statSync(e.db).ino).toBe(inodes[i]);
      expect(existsSync(`${e.db}.OLD`)).toBe(false);
    }
    expect(existsSync(t.shared)).toBe(false);
    const kept = readdirSync(join(t.base, 'shared dir')).find((f) => f.startsWith('database-shared.db.rolled-back-'))!;
    expect(sql(join(t.base, 'shared dir', kept), 'SELECT count(*) FROM time_entries')).toBe('13');
    expect(undo.stdout).toContain('rows written while shared are only in');
    expect(t.pm2().map((a) => a.status)).toEqual(['online', 'online']);
  });

  it('refuses (after freezing) to pick a base when the databases diverged; undo starts the apps and removes nothing', () => {
    const t = twoEnvs(SCHEMA + MIGRATED + rows(3, 'blue'), SCHEMA + MIGRATED + rows(2, 'green'));
    const s = t.step('share-db', '{ release_timeout: 1s }');
    for (const c of [...s.capture, s.run[0]!]) expect(sh(c.cmd).code).toBe(0);
    expect(t.pm2().map((a) => a.status)).toEqual(['stopped', 'stopped']);
    const r = sh(s.run[1]!.cmd);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('share-db will not choose a base');
    expect(undoStep(s).code).toBe(0);
    expect(t.pm2().map((a) => a.status)).toEqual(['online', 'online']);
    expect(lstatSync(t.blue.db).isFile()).toBe(true);
    expect(existsSync(t.shared)).toBe(false);
  });

  it('refuses schemas that differ, and a layout that is already shared, before stopping anything', () => {
    const t = twoEnvs(SCHEMA + MIGRATED, SCHEMA + "INSERT INTO migrations VALUES ('001_init.sql', 'x'), ('002.sql', 'y');");
    const s = t.step('share-db', '{ release_timeout: 1s }');
    for (const c of [...s.capture, s.run[0]!]) expect(sh(c.cmd).code).toBe(0);
    expect(sh(s.run[1]!.cmd).stderr).toContain('refusing to share databases whose schemas differ');
    expect(undoStep(s).code).toBe(0);
    writeFileSync(`${t.green.db}.OLD`, '');
    const again = t.step('share-db');
    sh(again.capture[0]!.cmd);
    const r = sh(again.run[0]!.cmd);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('.OLD already exists: move it away first (nothing was changed)');
    expect(t.pm2().map((a) => a.status)).toEqual(['online', 'online']);
  });
});
