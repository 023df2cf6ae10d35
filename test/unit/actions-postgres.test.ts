// PostgreSQL envs: inventory validation and the backup / schema-check command builders (exact equality).
import { describe, expect, it } from 'vitest';
import { parseInventory } from '../../src/config/parse.js';
import { InputError, formatProblem } from '../../src/errors.js';
import { oneStep, plan, problems, RUN } from './actions-helpers.js';

const INVENTORY = `hosts:
  box:
    local: true
    backups: { dir: /srv/backups, keep: 3 }
    vars: { pgpw: { value: s3cret, secret: true } }
    envs:
      blue: { dir: /srv/blue, db: { postgres: { host: db.internal, port: 5433, database: "app blue", user: "-app", password_var: pgpw } } }
      green: { dir: /srv/green, db: { postgres: { database: app_green, service: prod } } }
      lite: { dir: /srv/lite, db: data.db }
`;

const inventoryProblems = (text: string): string[] => {
  try {
    parseInventory('hosts.yaml', text);
  } catch (e) {
    if (e instanceof InputError) return e.problems.map((p) => formatProblem(p));
    throw e;
  }
  return [];
};

describe('PostgreSQL inventory', () => {
  it('accepts a postgres db beside a SQLite one (unchanged)', () => {
    expect(inventoryProblems(INVENTORY)).toEqual([]);
  });

  it('names a missing database and an undeclared or plain password variable at file:line', () => {
    const text = `hosts:
  box:
    local: true
    vars: { plain: hello }
    envs:
      a: { dir: /a, db: { postgres: { host: h } } }
      b: { dir: /b, db: { postgres: { database: d, password_var: nope } } }
      c: { dir: /c, db: { postgres: { database: d, password_var: plain } } }
`;
    const first = inventoryProblems(text);
    expect(first.join('\n')).toMatch(/hosts\.yaml:6:\d+: hosts\.box\.envs\.a\.db\.postgres\.database: Invalid input: expected string, received undefined/);
    const second = inventoryProblems(text.replace('{ host: h }', '{ host: h, database: d }'));
    expect(second).toHaveLength(2);
    expect(second[0]).toMatch(/^hosts\.yaml:7:\d+: .*no host variable `nope`/);
    expect(second[1]).toMatch(/^hosts\.yaml:8:\d+: .*host variable `plain` holds a password: declare it `secret: true`/);
  });
});

describe('backup on PostgreSQL', () => {
  it('pg_dump with the connection as words, the password only as its secret variable', () => {
    const s = plan(oneStep('backup', 'env: blue\nwith: { copy_to: false }'), { host: 'box', inventory: INVENTORY }).steps[0]!;
    const conn = `db.internal 5433 'app blue' -app '' "$BG_SECRET_pgpw"`;
    expect(s.run.map((c) => c.cmd)).toEqual([
      `bg_pg_backup ${conn} /srv/backups /srv/backups/blue-${RUN}.pgdump`,
      `bg_backup_prune /srv/backups "$HOME"/.bg/runs blue blue-${RUN}.pgdump 3 '^blue-[0-9]{8}T[0-9]{6}(\\.[0-9]{3})?Z.*\\.pgdump$'`,
    ]);
    expect(s.verify.map((c) => c.cmd)).toEqual([`bg_pg_backup_verify ${conn} /srv/backups/blue-${RUN}.pgdump`]);
    expect(JSON.stringify(s)).not.toContain('s3cret');
  });

  it('a service and no password: libpq reads ~/.pgpass or pg_service.conf on the host', () => {
    const s = plan(oneStep('backup', 'env: green'), { host: 'box', inventory: INVENTORY }).steps[0]!;
    expect(s.run[0]!.cmd).toBe(`bg_pg_backup '' '' app_green '' prod '' /srv/backups /srv/backups/green-${RUN}.pgdump`);
  });

  it('copy_to: the verified dump is copied to COPY_TO/HOST/ENV-RUNID.pgdump, as on SQLite', () => {
    const inv = INVENTORY.replace('keep: 3 }', 'keep: 3, copy_to: ./copies }');
    const s = plan(oneStep('backup', 'env: blue'), { host: 'box', inventory: inv }).steps[0]!;
    expect(s.download).toEqual({
      cmd: `bg_offhost_send /srv/backups/blue-${RUN}.pgdump`,
      remote: `/srv/backups/blue-${RUN}.pgdump`,
      local: `./copies/box/blue-${RUN}.pgdump`,
      label: `copy /srv/backups/blue-${RUN}.pgdump to ./copies/box/blue-${RUN}.pgdump on this machine (sha256 checked)`,
    });
    expect(plan(oneStep('backup', 'env: blue\nwith: { copy_to: false }'), { host: 'box', inventory: inv }).steps[0]!.download).toBeUndefined();
  });

  it('a SQLite env still gets the SQLite backup', () => {
    const s = plan(oneStep('backup', 'env: lite\nwith: { copy_to: false }'), { host: 'box', inventory: INVENTORY }).steps[0]!;
    expect(s.run[0]!.cmd).toBe(`bg_backup /srv/lite/data.db /srv/backups /srv/backups/lite-${RUN}.db`);
  });
});

describe('schema-check on PostgreSQL', () => {
  it('compares the named envs from pg_catalog', () => {
    const s = plan(oneStep('schema-check', 'with: { envs: [blue, green], migrations_table: "-m" }'), { host: 'box', inventory: INVENTORY }).steps[0]!;
    expect(s.verify[0]!.cmd).toBe(`bg_pg_schema_check -m name blue db.internal 5433 'app blue' -app '' "$BG_SECRET_pgpw" green '' '' app_green '' prod ''`);
  });

  it('refuses to compare a SQLite env with a PostgreSQL one', () => {
    expect(problems(oneStep('schema-check', 'with: { envs: [blue, lite] }'), { host: 'box', inventory: INVENTORY }).join('\n')).toMatch(/env `lite` is SQLite and another PostgreSQL/);
  });
});
