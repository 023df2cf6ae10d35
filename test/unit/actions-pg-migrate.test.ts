// migrate and restore on PostgreSQL envs: the command builders by exact equality (the shell they
// call is src/remote/pg-restore.sh, run against a real cluster in test/e2e/postgres-migrate.test.ts).
import { describe, expect, it } from 'vitest';
import { pgBackupFileOf } from '../../src/plan/actions/restore-pg.js';
import { oneStep, plan, problems, RUN } from './actions-helpers.js';

const INVENTORY = `hosts:
  box:
    local: true
    backups: { dir: /srv/backups, keep: 3 }
    vars: { pgpw: { value: s3cret, secret: true } }
    envs:
      blue: { dir: /srv/blue, app: blue-app, migrate: "npm run migrate -- --env 'prod'", db: { postgres: { host: db.internal, port: 5433, database: "app blue", user: "-app", password_var: pgpw } } }
      green: { dir: /srv/green, db: { postgres: { database: app_green, service: prod } } }
`;
const CONN = `db.internal 5433 'app blue' -app '' "$BG_SECRET_pgpw"`;
const BAK = `/srv/backups/blue-${RUN}.pgdump`;
const SD = `"$HOME"/.bg/runs/${RUN}/steps/1`;

describe('migrate on PostgreSQL', () => {
  const s = plan(oneStep('migrate', 'env: blue'), { host: 'box', inventory: INVENTORY });
  const step = s.steps[0]!;

  it('runs the migrate command in the env dir with PG* exported; verifies nothing pending and an answering database', () => {
    expect(step.capture.map((c) => c.cmd)).toEqual([`bg_migrate_capture ${SD} ${BAK} blue`]);
    expect(step.run.map((c) => c.cmd)).toEqual([`bg_pg_with ${CONN} bg_pg_migrate_run /srv/blue 'npm run migrate -- --env '\\''prod'\\'''`]);
    expect(step.verify.map((c) => c.cmd)).toEqual([
      `bg_pg_with ${CONN} bg_migrate_again /srv/blue 'npm run migrate -- --env '\\''prod'\\''' 'no pending migrations|already up[ -]to[ -]date|nothing to migrate|no migrations (were executed|to run|to apply)'`,
      `bg_pg_answers ${CONN} migrate`,
    ]);
    expect(s.secrets).toHaveProperty('pgpw');
    expect(JSON.stringify(s)).not.toContain('s3cret');
  });

  it("undoes by restoring this run's dump, the app stopped meanwhile; reports what the undo discards", () => {
    expect(step.undo.map((c) => c.cmd)).toEqual([
      `bg_undo_if ${SD}/backup 'nothing to undo: the migration never started'\n` +
        `bg_pg_restore_db ${CONN} ${BAK} blue-app 15 ${RUN} 'bg: cannot undo the migration of blue: this run'\\''s backup ${BAK} is missing' migrations name '' '' 0 blue`,
    ]);
    expect(step.discardCheck?.map((c) => c.cmd)).toEqual([`bg_pg_rows_since ${CONN} ${BAK} migrations blue ${RUN} 'after this run'\\''s backup, not in the restored database' ${SD}/backup`]);
  });

  it('gates on the pending migrations as PostgreSQL, read with the live schema and the applied names from the database', () => {
    expect(s.gates).toEqual([
      {
        kind: 'lint-migrations',
        cmd: `bg_pg_migration_listing /srv/blue/migrations ${CONN} 'SELECT "name" FROM "migrations"' 'bg: no migrations directory migrations in /srv/blue (set the env'\\''s migrations_dir or with.migrations_dir, or with.lint: false)'`,
        label: 'pending migrations of blue do not break the version still running',
        dialect: 'postgres',
      },
    ]);
    expect(s.preflight.map((c) => c.cmd)).toEqual(expect.arrayContaining(['command -v psql', 'command -v pg_dump', 'command -v pg_restore'].map((c) => expect.stringContaining(c.split(' ').pop()!))));
  });

  it('a pending command and a quoted migrations table; no app: nothing stopped', () => {
    const gp = plan(oneStep('migrate', "env: green\nwith: { command: ./m.sh, pending: './m.sh --pending', migrations_table: 'my \"migs\"' }"), { host: 'box', inventory: INVENTORY });
    const g = gp.steps[0]!;
    const conn = `'' '' app_green '' prod ''`;
    expect(g.verify[0]!.cmd).toBe(`bg_pg_with ${conn} bg_migrate_pending /srv/green './m.sh --pending'`);
    expect(g.undo[0]!.cmd.split('\n')[1]).toBe(`bg_pg_restore_db ${conn} /srv/backups/green-${RUN}.pgdump '' 15 ${RUN} 'bg: cannot undo the migration of green: this run'\\''s backup /srv/backups/green-${RUN}.pgdump is missing' 'my "migs"' name '' '' 0 green`);
    expect(gp.gates[0]!.cmd).toContain(`'SELECT "name" FROM "my ""migs"""'`);
  });

  it('without a migrate command: a located problem', () => {
    const inv = INVENTORY.replace(`migrate: "npm run migrate -- --env 'prod'", `, '');
    expect(problems(oneStep('migrate', 'env: blue'), { host: 'box', inventory: inv }).join('\n')).toMatch(/has no `migrate` command/);
  });
});

describe('restore on PostgreSQL', () => {
  const ID = '20261120T100000.000Z-ffff';
  const FROM = `/srv/backups/blue-${ID}.pgdump`;
  const REC = `${SD}/backup`;

  it('restores a .pgdump named by run id or file name; the database as it is dumped first to this run’s backup', () => {
    for (const backup of [ID, `blue-${ID}.pgdump`]) {
      const step = plan(oneStep('restore', `env: blue\nwith: { backup: "${backup}" }`), { host: 'box', inventory: INVENTORY }).steps[0]!;
      expect(step.run.map((c) => c.cmd)).toEqual([
        `bg_pg_restore_db ${CONN} ${FROM} blue-app 15 ${RUN} 'bg: no backup blue-${ID}.pgdump in /srv/backups (bg backups --host box lists them)' migrations name ${BAK} ${REC} 0 blue`,
      ]);
      expect(step.verify.map((c) => c.cmd)).toEqual([`bg_pg_restore_verify ${CONN} ${FROM} migrations name`]);
      expect(step.undo.map((c) => c.cmd)).toEqual([
        `bg_undo_if ${REC} 'nothing to undo: the restore did not replace the database'\n` +
          `bg_pg_restore_db ${CONN} ${BAK} blue-app 15 ${RUN} 'bg: cannot undo the restore of blue: the copy taken before it, ${BAK}, is missing' migrations name '' '' 0 blue`,
      ]);
      expect(step.discardCheck?.map((c) => c.cmd)).toEqual([`bg_pg_rows_since ${CONN} ${BAK} migrations blue ${RUN} 'after the restore, not in the database as it was before it' ${REC}`]);
    }
  });

  it('accept_data_loss reaches the shell as 1', () => {
    const step = plan(oneStep('restore', `env: blue\nwith: { backup: "${ID}", accept_data_loss: "true" }`), { host: 'box', inventory: INVENTORY }).steps[0]!;
    expect(step.run[0]!.cmd.endsWith(`${BAK} ${REC} 1 blue`)).toBe(true);
  });

  it('names only bg’s own dump names of the env', () => {
    expect(pgBackupFileOf(`blue-${ID}.pgdump`, 'blue')).toEqual({ file: `blue-${ID}.pgdump`, runId: ID });
    expect(pgBackupFileOf(ID, 'blue')).toEqual({ file: `blue-${ID}.pgdump`, runId: ID });
    expect(pgBackupFileOf(`green-${ID}.pgdump`, 'blue')).toEqual({ problem: `"green-${ID}.pgdump" is not a backup of env \`blue\` (its backups are named blue-RUNID.pgdump)` });
    expect(pgBackupFileOf(`blue-../x.pgdump`, 'blue')).toHaveProperty('problem');
    expect(pgBackupFileOf(`blue-${ID}.db`, 'blue')).toHaveProperty('problem');
  });
});
