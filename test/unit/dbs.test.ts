// Several SQLite databases per env (`dbs:`): the inventory's rules (file:line), the model, templates,
// backup names and exact pruning patterns, the builders by exact equality, and the shell through a real sh.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseInventory } from '../../src/config/parse.js';
import { InputError, formatProblem } from '../../src/errors.js';
import { backupFileName, backupPattern, envBackups } from '../../src/plan/backup-paths.js';
import { resolveHost, templateScope } from '../../src/plan/host-model.js';
import { render } from '../../src/plan/template.js';
import { sharedDbPath } from '../../src/plan/actions/share-dbs.js';
import { RUN, oneStep, plan, problems, sh } from './actions-helpers.js';
import { fakePm2Daemon } from './fake-pm2-daemon.js';

const INV = `hosts:
  prod:
    local: true
    backups: { dir: /b, keep: 3 }
    journal: /j
    envs:
      blue:
        dir: /srv/blue
        app: blue-app
        dbs: { main: database.db, cache: /var/cache/c.db, userdata: data/user.db }
      green:
        dir: /srv/green
        app: green-app
        dbs: { main: database.db, cache: /var/cache/g.db }
      old: { dir: /srv/old, db: old.db }
`;

function inventoryProblems(text: string): string[] {
  try {
    parseInventory('hosts.yaml', text);
  } catch (e) {
    if (e instanceof InputError) return e.problems.map((p) => formatProblem(p));
    throw e;
  }
  return [];
}

const host = () => resolveHost('prod', parseInventory('hosts.yaml', INV).value.hosts.prod!);

describe('dbs: in the inventory', () => {
  it('is accepted; db: alone keeps working', () => {
    expect(inventoryProblems(INV)).toEqual([]);
  });

  it('db: and dbs: together, a bad name, an object entry and an empty map are located at file:line', () => {
    const bad = `hosts:
  prod:
    local: true
    envs:
      a: { dir: /a, db: x.db, dbs: { main: x.db } }
      b: { dir: /b, dbs: { Main: x.db } }
      c: { dir: /c, dbs: { main: { postgres: { database: d } } } }
      d: { dir: /d, dbs: {} }
`;
    const p = inventoryProblems(bad);
    expect(p.some((m) => /^hosts\.yaml:6:\d+: .*`Main` is no database name: a lowercase letter/.test(m)), p.join('\n')).toBe(true);
    expect(p.some((m) => /^hosts\.yaml:7:\d+: .*`dbs:` entries are SQLite paths only \(a PostgreSQL database is `db: \{ postgres: \.\.\. \}`, one per env\)/.test(m)), p.join('\n')).toBe(true);
    expect(p.some((m) => /^hosts\.yaml:8:\d+: .*`dbs:` needs at least one database/.test(m)), p.join('\n')).toBe(true);
    // The shape passes once the others are fixed; then the cross-field rule speaks.
    const both = inventoryProblems(`hosts:\n  prod:\n    local: true\n    envs:\n      a: { dir: /a, db: x.db, dbs: { main: x.db } }\n`);
    expect(both).toHaveLength(1);
    expect(both[0]).toMatch(/^hosts\.yaml:5:\d+: .*env `a` has both `db:` and `dbs:`: give its databases in `dbs:` only \(the first is the default\)/);
  });
});

describe('the model and templates', () => {
  it('resolves every database, the default first; db: PATH is one database named db; PostgreSQL has none', () => {
    const h = host();
    expect(h.envs.blue!.db).toBe('/srv/blue/database.db');
    expect(h.envs.blue!.dbs).toEqual([
      { name: 'main', path: '/srv/blue/database.db' },
      { name: 'cache', path: '/var/cache/c.db' },
      { name: 'userdata', path: '/srv/blue/data/user.db' },
    ]);
    expect(h.envs.old!.dbs).toEqual([{ name: 'db', path: '/srv/old/old.db' }]);
    const pg = resolveHost('p', parseInventory('h.yaml', `hosts:\n  p:\n    local: true\n    envs:\n      a: { dir: /a, db: { postgres: { database: d } } }\n`).value.hosts.p!);
    expect(pg.envs.a!.dbs).toEqual([]);
  });

  it('{{ env.dbs.NAME }} and {{ blue.dbs.NAME }} are quoted paths; an unknown name is an error', () => {
    const h = host();
    const scope = templateScope(h, {}, { id: RUN, dir: '/j/runs/x' }, h.envs.blue);
    expect(render('cp {{ env.dbs.userdata }} {{ green.dbs.cache }}', scope, 'shell')).toEqual({ ok: true, value: "cp /srv/blue/data/user.db /var/cache/g.db" });
    const r = render('{{ green.dbs.userdata }}', scope, 'shell');
    expect(r.ok).toBe(false);
  });
});

describe('backup names and pruning patterns', () => {
  it('the default keeps ENV-RUNID.db, another database gets ENV-RUNID.NAME.db', () => {
    expect(backupFileName('blue', RUN)).toBe(`blue-${RUN}.db`);
    expect(backupFileName('blue', RUN, 'cache')).toBe(`blue-${RUN}.cache.db`);
    expect(envBackups(host(), host().envs.blue!, RUN)).toEqual([
      { name: 'main', db: '/srv/blue/database.db', backup: `/b/blue-${RUN}.db` },
      { name: 'cache', dbName: 'cache', db: '/var/cache/c.db', backup: `/b/blue-${RUN}.cache.db` },
      { name: 'userdata', dbName: 'userdata', db: '/srv/blue/data/user.db', backup: `/b/blue-${RUN}.userdata.db` },
    ]);
  });

  it("each pattern matches its database's backups only (grep -E, as the host runs it)", () => {
    const files = [`blue-${RUN}.db`, 'blue-20261121T120000.123Z-ff01.db', `blue-${RUN}.cache.db`, `blue-${RUN}.userdata.db`, `blue-x-${RUN}.db`, `blue-${RUN}.db.counts`, `green-${RUN}.db`, `blue-${RUN}.cache.db.verified`, `blue-${RUN}.pgdump`];
    const grep = (pattern: string) => spawnSync('grep', ['-E', '--', pattern], { input: files.join('\n') + '\n', encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
    expect(backupPattern('blue')).toBe('^blue-[0-9]{8}T[0-9]{6}(\\.[0-9]{3})?Z-[0-9A-Za-z]{1,32}\\.db$');
    expect(grep(backupPattern('blue'))).toEqual([`blue-${RUN}.db`, 'blue-20261121T120000.123Z-ff01.db']);
    expect(grep(backupPattern('blue', 'cache'))).toEqual([`blue-${RUN}.cache.db`]);
    expect(grep(backupPattern('blue', 'userdata'))).toEqual([`blue-${RUN}.userdata.db`]);
    expect(grep(backupPattern('blue-x'))).toEqual([`blue-x-${RUN}.db`]);
  });

  it("pruning one database keeps the other databases' backups (a real sh)", () => {
    const dir = mkdtempSync(join(tmpdir(), 'bg-dbs-prune-'));
    const runs = join(dir, 'runs');
    const ids = ['20260101T000000Z-aaaa', '20260102T000000Z-bbbb', '20260103T000000Z-cccc'];
    ids.forEach((id, i) => {
      mkdirSync(join(runs, id), { recursive: true });
      writeFileSync(join(runs, id, 'seq'), `${i + 1}\n`);
      for (const f of [`blue-${id}.db`, `blue-${id}.cache.db`]) writeFileSync(join(dir, f), 'x');
    });
    const self = `blue-${ids[2]}.cache.db`;
    const r = sh(`bg_backup_prune '${dir}' '${runs}' blue '${self}' 1 '${backupPattern('blue', 'cache')}' .cache.db`);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(dir).filter((f) => f.endsWith('.db')).sort()).toEqual([...ids.map((id) => `blue-${id}.db`), self].sort());
    // A named backup an undo not yet run restores is kept (recorded in steps/N/backup.NAME).
    mkdirSync(join(runs, ids[2]!, 'steps', '2'), { recursive: true });
    writeFileSync(join(runs, ids[2]!, 'steps', '2', 'backup.cache'), join(dir, `blue-${ids[0]}.cache.db`) + '\n');
    writeFileSync(join(dir, `blue-${ids[0]}.cache.db`), 'x');
    const kept = sh(`bg_backup_prune '${dir}' '${runs}' blue '${self}' 1 '${backupPattern('blue', 'cache')}' .cache.db`);
    expect(kept.stdout).toMatch(/kept .*blue-20260101T000000Z-aaaa\.cache\.db: an undo not yet run restores it/);
    // bg rollback's check sees a missing named backup too.
    const missing = sh(`bg_undo_missing '${join(runs, ids[2]!, 'steps')}' backup 2`);
    expect(missing.stdout).toBe('');
    writeFileSync(join(runs, ids[2]!, 'steps', '2', 'backup.cache'), join(dir, 'gone.db') + '\n');
    expect(sh(`bg_undo_missing '${join(runs, ids[2]!, 'steps')}' backup 2`).stdout).toBe(`2 ${join(dir, 'gone.db')}\n`);
  });
});

describe('the builders', () => {
  it('backup: every database copied, pruned by its own pattern and verified, in one step', () => {
    const s = plan(oneStep('backup', 'env: blue'), { inventory: INV }).steps[0]!;
    expect(s.run.map((c) => c.cmd)).toEqual([
      `bg_backup /srv/blue/database.db /b /b/blue-${RUN}.db`,
      `bg_backup_prune /b /j/runs blue blue-${RUN}.db 3 '^blue-[0-9]{8}T[0-9]{6}(\\.[0-9]{3})?Z-[0-9A-Za-z]{1,32}\\.db$'`,
      `bg_backup /var/cache/c.db /b /b/blue-${RUN}.cache.db`,
      `bg_backup_prune /b /j/runs blue blue-${RUN}.cache.db 3 '^blue-[0-9]{8}T[0-9]{6}(\\.[0-9]{3})?Z-[0-9A-Za-z]{1,32}\\.cache\\.db$' .cache.db`,
      `bg_backup /srv/blue/data/user.db /b /b/blue-${RUN}.userdata.db`,
      `bg_backup_prune /b /j/runs blue blue-${RUN}.userdata.db 3 '^blue-[0-9]{8}T[0-9]{6}(\\.[0-9]{3})?Z-[0-9A-Za-z]{1,32}\\.userdata\\.db$' .userdata.db`,
    ]);
    expect(s.verify.map((c) => c.cmd)).toEqual([
      `bg_backup_verify /srv/blue/database.db /b/blue-${RUN}.db`,
      `bg_backup_verify /var/cache/c.db /b/blue-${RUN}.cache.db`,
      `bg_backup_verify /srv/blue/data/user.db /b/blue-${RUN}.userdata.db`,
    ]);
  });

  it('backup with copy_to: the first copy rides with the step, each other one gets a read-only step of its own', () => {
    const p = plan(oneStep('backup', 'env: blue\nwith: { copy_to: ./c }'), { inventory: INV });
    expect(p.steps.map((s) => [s.index, s.name, s.mutates, s.download?.local])).toEqual([
      [1, 's', false, `./c/prod/blue-${RUN}.db`],
      [2, `s: copy blue-${RUN}.cache.db off the host`, false, `./c/prod/blue-${RUN}.cache.db`],
      [3, `s: copy blue-${RUN}.userdata.db off the host`, false, `./c/prod/blue-${RUN}.userdata.db`],
    ]);
    expect(p.steps[1]!.run.map((c) => c.cmd)).toEqual([`bg_backup_ok /b/blue-${RUN}.cache.db`]);
    expect(p.steps[1]!.download!.cmd).toBe(`bg_offhost_send /b/blue-${RUN}.cache.db`);
  });

  it("migrate: every backup required and recorded; the undo restores them all with the app stopped once; the discard check covers each", () => {
    const s = plan(oneStep('migrate', 'env: blue\nwith: { command: ./m, lint: false }'), { inventory: INV }).steps[0]!;
    const sd = `/j/runs/${RUN}/steps/1`;
    expect(s.capture.map((c) => c.cmd)).toEqual([`bg_migrate_capture_dbs ${sd} blue main /b/blue-${RUN}.db backup cache /b/blue-${RUN}.cache.db backup.cache userdata /b/blue-${RUN}.userdata.db backup.userdata`]);
    expect(s.undo.map((c) => c.cmd)).toEqual([
      [
        `bg_undo_if ${sd}/backup 'nothing to undo: the migration never started'`,
        `bg_restore_dbs blue-app 15 ${RUN} rolled-back quick 0 blue migrations` +
          ` /srv/blue/database.db /b/blue-${RUN}.db ${sd}/backup 'bg: cannot undo the migration of blue: this run'\\''s backup /b/blue-${RUN}.db of main is missing' '' ''` +
          ` /var/cache/c.db /b/blue-${RUN}.cache.db ${sd}/backup.cache 'bg: cannot undo the migration of blue: this run'\\''s backup /b/blue-${RUN}.cache.db of cache is missing' '' ''` +
          ` /srv/blue/data/user.db /b/blue-${RUN}.userdata.db ${sd}/backup.userdata 'bg: cannot undo the migration of blue: this run'\\''s backup /b/blue-${RUN}.userdata.db of userdata is missing' '' ''`,
      ].join('\n'),
    ]);
    expect(s.discardCheck!.map((c) => c.label)).toEqual(["rows in blue's database main that the backup lacks", "rows in blue's database cache that the backup lacks", "rows in blue's database userdata that the backup lacks"]);
  });

  it('an env with db: alone builds exactly what it built before', () => {
    const s = plan(oneStep('backup', 'env: old'), { inventory: INV }).steps[0]!;
    expect(s.run.map((c) => c.cmd)).toEqual([`bg_backup /srv/old/old.db /b /b/old-${RUN}.db`, `bg_backup_prune /b /j/runs old old-${RUN}.db 3 '^old-[0-9]{8}T[0-9]{6}(\\.[0-9]{3})?Z-[0-9A-Za-z]{1,32}\\.db$'`]);
    const m = plan(oneStep('migrate', 'env: old\nwith: { command: ./m, lint: false }'), { inventory: INV }).steps[0]!;
    expect(m.capture[0]!.cmd).toBe(`bg_migrate_capture /j/runs/${RUN}/steps/1 /b/old-${RUN}.db old`);
    expect(m.undo[0]!.cmd).toContain('bg_restore_db /srv/old/old.db');
  });

  it('schema-check: one call comparing per database name; a name only some envs have is a difference', () => {
    const s = plan(oneStep('schema-check', 'with: { envs: [blue, green] }'), { inventory: INV }).steps[0]!;
    expect(s.verify.map((c) => c.cmd)).toEqual([
      "bg_schema_check_dbs migrations name absent userdata blue green 2 blue.main /srv/blue/database.db green.main /srv/green/database.db 2 blue.cache /var/cache/c.db green.cache /var/cache/g.db",
    ]);
  });

  it('schema-check: the default databases are compared whatever their names (an env with db: alone has one named db)', () => {
    const s = plan(oneStep('schema-check', 'with: { envs: [blue, old] }'), { inventory: INV }).steps[0]!;
    expect(s.verify.map((c) => c.cmd)).toEqual([
      'bg_schema_check_dbs migrations name absent cache blue old absent userdata blue old 2 blue.main /srv/blue/database.db old.db /srv/old/old.db',
    ]);
  });

  it('db-inspect: one report per shared name, each env as ENV.NAME; the base named per database', () => {
    const s = plan(oneStep('db-inspect', 'with: { envs: [blue, green], base: green }'), { inventory: INV }).steps[0]!;
    expect(s.run.map((c) => c.cmd)).toEqual([
      "bg_db_name_absent userdata blue green",
      'bg_db_inspect green.main migrations name blue.main /srv/blue/database.db blue-app green.main /srv/green/database.db green-app',
      'bg_db_inspect green.cache migrations name blue.cache /var/cache/c.db blue-app green.cache /var/cache/g.db green-app',
    ]);
  });

  it('restore: every database that run backed up, the named ones optional; with.db just one', () => {
    const s = plan(oneStep('restore', 'env: blue\nwith: { backup: 20261120T000000Z-ffff }'), { inventory: INV }).steps[0]!;
    const sd = `/j/runs/${RUN}/steps/1`;
    expect(s.run[0]!.cmd).toBe(
      `bg_restore_dbs blue-app 15 ${RUN} restored-over verify 0 blue migrations` +
        ` /srv/blue/database.db /b/blue-20261120T000000Z-ffff.db '' 'bg: no backup blue-20261120T000000Z-ffff.db in /b (bg backups --host prod lists them)' /b/blue-${RUN}.db ${sd}/backup` +
        ` /var/cache/c.db /b/blue-20261120T000000Z-ffff.cache.db '' '' /b/blue-${RUN}.cache.db ${sd}/backup.cache` +
        ` /srv/blue/data/user.db /b/blue-20261120T000000Z-ffff.userdata.db '' '' /b/blue-${RUN}.userdata.db ${sd}/backup.userdata`,
    );
    expect(s.verify.map((c) => c.cmd)).toEqual([
      'bg_restore_verify_if /srv/blue/database.db /b/blue-20261120T000000Z-ffff.db',
      'bg_restore_verify_if /var/cache/c.db /b/blue-20261120T000000Z-ffff.cache.db',
      'bg_restore_verify_if /srv/blue/data/user.db /b/blue-20261120T000000Z-ffff.userdata.db',
    ]);
    const one = plan(oneStep('restore', 'env: blue\nwith: { backup: 20261120T000000Z-ffff, db: cache }'), { inventory: INV }).steps[0]!;
    expect(one.run[0]!.cmd).toBe(
      `bg_restore_dbs blue-app 15 ${RUN} restored-over verify 0 blue migrations /var/cache/c.db /b/blue-20261120T000000Z-ffff.cache.db '' 'bg: no backup blue-20261120T000000Z-ffff.cache.db in /b (bg backups --host prod lists them)' /b/blue-${RUN}.cache.db ${sd}/backup.cache`,
    );
    expect(problems(oneStep('restore', 'env: blue\nwith: { backup: 20261120T000000Z-ffff, db: nope }'), { inventory: INV })).toEqual([expect.stringMatching(/pb\.yaml:\d+:\d+: .*env `blue` has no database `nope` \(it has: main, cache, userdata\)/)]);
  });

  it('the maintenance playbook backs up every database and its migrate undo restores every one', () => {
    const text = readFileSync(new URL('../../playbooks/maintenance.yaml', import.meta.url), 'utf8');
    const inv = INV.replace(/app: (blue|green)-app/g, 'app: $1-app\n        migrate: ./m\n        health: http://127.0.0.1:1/h');
    const p = plan(text, { inventory: inv });
    const backups = p.steps.filter((s) => s.action === 'backup');
    expect(backups.map((s) => [s.env, s.verify.length])).toEqual([['blue', 3], ['green', 2]]);
    const migrates = p.steps.filter((s) => s.action === 'migrate');
    expect(migrates.map((s) => s.undo[0]!.cmd.split('\n')[1]!.split(' ').slice(0, 2).join(' '))).toEqual(['bg_restore_dbs blue-app', 'bg_restore_dbs green-app']);
  });

  it('share-db: each database name onto its own shared file (shared.db -> shared.NAME.db), one freeze, the apps started once', () => {
    expect(sharedDbPath('/s/shared.db', 'cache')).toBe('/s/shared.cache.db');
    expect(sharedDbPath('/s/shared', 'cache')).toBe('/s/shared.cache');
    const inv = INV.replace('journal: /j', 'journal: /j\n    shared_db: /s.db').replace('cache: /var/cache/c.db, userdata: data/user.db', 'cache: /var/cache/c.db');
    const s = plan(oneStep('share-db', 'with: { envs: [blue, green] }'), { inventory: inv }).steps[0]!;
    const sd = `/j/runs/${RUN}/steps/1`;
    const main = `${sd} /s.db blue /srv/blue/database.db blue-app '' green /srv/green/database.db green-app ''`;
    const cache = `${sd}/db-cache /s.cache.db blue /var/cache/c.db blue-app '' green /var/cache/g.db green-app ''`;
    expect(s.capture.map((c) => c.cmd)).toEqual([`bg_share_capture ${main}`, `bg_share_capture ${cache}`]);
    expect(s.run.map((c) => c.cmd)).toEqual([
      `bg_share_freeze 15 ${main}`,
      `bg_share_freeze 15 ${cache}`,
      `bg_share_copy auto 1 migrations name ${main}`,
      `bg_share_copy auto 1 migrations name ${cache}`,
      `bg_share_switch ${main}`,
      `bg_share_switch ${cache}`,
      `bg_share_mark_started ${sd}/db-cache`,
      `bg_share_restart 30 0 ${main}`,
    ]);
    expect(s.verify.map((c) => c.cmd)).toEqual([`bg_share_verify_open ${main}`, `bg_share_verify_old ${main}`, `bg_share_verify_old ${cache}`]);
    expect(s.undo.map((c) => c.cmd)).toEqual([
      [
        `bg_undo_if ${sd}/apps 'nothing to undo: share-db never started'`,
        `bg_share_group_undo_stop 15 ${main}`,
        `bg_share_group_undo_stop 15 ${cache}`,
        `bg_share_group_undo_files ${RUN} ${main}`,
        `bg_share_group_undo_files ${RUN} ${cache}`,
        `bg_share_group_undo_start 30 ${main}`,
      ].join('\n'),
    ]);
  });

  it('share-db refuses at plan time a database name only some envs have', () => {
    expect(problems(oneStep('share-db', 'with: { envs: [blue, green] }'), { inventory: INV.replace('journal: /j', 'journal: /j\n    shared_db: /s.db') })).toEqual([
      expect.stringMatching(/database `userdata` is in blue but not in green: share-db moves every env's database of each name onto one file/),
    ]);
  });
});

describe('bg_restore_dbs through a real sh (no app)', () => {
  const mk = (file: string, rows: number) => {
    spawnSync('sqlite3', [file, `CREATE TABLE t (x); ${Array.from({ length: rows }, (_, i) => `INSERT INTO t VALUES (${i});`).join(' ')}`]);
  };
  const count = (file: string) => spawnSync('sqlite3', [file, 'SELECT count(*) FROM t'], { encoding: 'utf8' }).stdout.trim();

  it('restores each database, keeps the replaced ones aside, leaves one whose backup that run lacks', () => {
    const d = mkdtempSync(join(tmpdir(), 'bg-rdbs-'));
    for (const n of ['a', 'b', 'c']) mk(join(d, `${n}.db`), 5);
    mk(join(d, 'a.bak'), 1);
    mk(join(d, 'b.bak'), 2);
    const r = sh(`bg_restore_dbs '' 1 R1 rolled-back quick 0 blue migrations '${d}/a.db' '${d}/a.bak' '' 'a missing' '' '' '${d}/b.db' '${d}/b.bak' '' 'b missing' '' '' '${d}/c.db' '${d}/c.bak' '' '' '' ''`);
    expect(r.code, r.stderr).toBe(0);
    expect([count(join(d, 'a.db')), count(join(d, 'b.db')), count(join(d, 'c.db'))]).toEqual(['1', '2', '5']);
    expect(existsSync(join(d, 'a.db.rolled-back-R1'))).toBe(true);
    expect(r.stdout).toMatch(/no backup .*c\.bak: .*c\.db is left as it is/);
  });

  it('a required backup missing fails before anything changes', () => {
    const d = mkdtempSync(join(tmpdir(), 'bg-rdbs-'));
    for (const n of ['a', 'b']) mk(join(d, `${n}.db`), 5);
    mk(join(d, 'a.bak'), 1);
    const r = sh(`bg_restore_dbs '' 1 R1 rolled-back quick 0 blue migrations '${d}/a.db' '${d}/a.bak' '' 'a missing' '' '' '${d}/b.db' '${d}/b.bak' '' 'bg: b is missing' '' ''`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('bg: b is missing');
    expect([count(join(d, 'a.db')), count(join(d, 'b.db'))]).toEqual(['5', '5']);
  });

  it('with BEFORE: refuses rows a backup lacks for any database before replacing one; accepted, copies each first and records it', () => {
    const d = mkdtempSync(join(tmpdir(), 'bg-rdbs-'));
    for (const n of ['a', 'b']) mk(join(d, `${n}.db`), 3);
    mk(join(d, 'a.bak'), 3);
    mk(join(d, 'b.bak'), 1);
    const args = (accept: string) => `bg_restore_dbs '' 1 R1 restored-over verify ${accept} blue migrations '${d}/a.db' '${d}/a.bak' '' 'a missing' '${d}/a.before' '${d}/sd/backup' '${d}/b.db' '${d}/b.bak' '' 'b missing' '${d}/b.before' '${d}/sd/backup.b'`;
    const refused = sh(args('0'));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/restoring would discard rows of blue written after the backup: t 2 rows/);
    expect([count(join(d, 'a.db')), count(join(d, 'b.db'))]).toEqual(['3', '3']);
    const ok = sh(args('1'));
    expect(ok.code, ok.stderr).toBe(0);
    expect([count(join(d, 'a.db')), count(join(d, 'b.db')), count(join(d, 'b.before'))]).toEqual(['3', '1', '3']);
    expect(readFileSync(join(d, 'sd', 'backup.b'), 'utf8')).toBe(`${d}/b.before\n`);
  });
});

describe('bg_restore_dbs with an app (a pm2 stand-in that logs its calls)', () => {
  const mk = (file: string, rows: number) => {
    spawnSync('sqlite3', [file, `CREATE TABLE t (x); ${Array.from({ length: rows }, (_, i) => `INSERT INTO t VALUES (${i});`).join(' ')}`]);
  };
  /** A directory with three databases, their backups, and a `pm2` on PATH whose app is online. */
  function setup() {
    const d = mkdtempSync(join(tmpdir(), 'bg-rdbs-app-'));
    mkdirSync(join(d, 'bin'));
    writeFileSync(
      join(d, 'bin', 'pm2'),
      `#!/bin/sh
echo "$*" >> "${d}/calls"
case $1 in
  jlist) s=$(cat "${d}/state"); p=0; [ "$s" != online ] || p=4242; printf '[{"name":"web","pid":%s,"pm2_env":{"status":"%s","restart_time":0}}]\\n' "$p" "$s" ;;
  stop) echo stopped > "${d}/state" ;;
  start) echo online > "${d}/state" ;;
esac
`,
    );
    chmodSync(join(d, 'bin', 'pm2'), 0o755);
    writeFileSync(join(d, 'state'), 'online\n');
    for (const n of ['a', 'b', 'c']) {
      mk(join(d, `${n}.db`), 5);
      mk(join(d, `${n}.bak`), 1);
    }
    const env = { PATH: `${join(d, 'bin')}:${process.env.PATH}`, PM2_HOME: fakePm2Daemon(d) };
    const call = `bg_restore_dbs web 1 R1 rolled-back quick 0 blue migrations ${['a', 'b', 'c'].map((n) => `'${d}/${n}.db' '${d}/${n}.bak' '' 'bg: ${n} missing' '' ''`).join(' ')}`;
    const calls = () => readFileSync(join(d, 'calls'), 'utf8').split('\n').filter((l) => l && l !== 'jlist');
    return { d, env, call, calls };
  }

  it('stops the app once around all three swaps and starts it again', () => {
    const { d, env, call, calls } = setup();
    const r = sh(call, env);
    expect(r.code, r.stderr).toBe(0);
    expect(calls()).toEqual(['stop web', 'start web']);
    expect((r.stdout.match(/^restored /gm) ?? []).length).toBe(3);
    expect(readFileSync(join(d, 'state'), 'utf8')).toBe('online\n');
  });

  it('a swap that fails half-way: exit non-zero with the reason, the databases restored so far named, the app started again', () => {
    const { d, env, call, calls } = setup();
    // b is no database at all: reading its journal mode fails after a was restored.
    writeFileSync(join(d, 'b.db'), 'not a database, padded so sqlite3 reads a header '.repeat(4));
    const r = sh(call, env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`bg: restored before the failure: ${d}/a.db`);
    expect(r.stderr).toMatch(/started web again on it, unchanged/);
    expect(calls()).toEqual(['stop web', 'start web']);
    expect(readFileSync(join(d, 'state'), 'utf8')).toBe('online\n');
  });
});
