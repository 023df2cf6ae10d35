// PostgreSQL pre-flight and db-inspect: the builders (exact equality), exit 5 for a database that
// could not be reached, and the shell helpers that need no server.
import { describe, expect, it } from 'vitest';
import { describeFailedChecks, isUnreachable, type CheckResult } from '../../src/run/preflight.js';
import { PG_UNREACHABLE_EXIT } from '../../src/plan/pg-preflight.js';
import { oneStep, plan, problems, sh } from './actions-helpers.js';

const INVENTORY = `hosts:
  box:
    local: true
    backups: { dir: /srv/backups, keep: 3 }
    vars: { pgpw: { value: s3cret, secret: true } }
    envs:
      blue: { dir: /srv/blue, db: { postgres: { host: db.internal, port: 5433, database: "app blue", user: "-app", password_var: pgpw, idle_in_transaction_max: 2m } } }
      green: { dir: /srv/green, db: { postgres: { database: app_green, service: prod } } }
      lite: { dir: /srv/lite, db: data.db }
`;
const BLUE = `db.internal 5433 'app blue' -app '' "$BG_SECRET_pgpw"`;
const GREEN = `'' '' app_green '' prod ''`;
const WHO_BLUE = `box blue 'postgres -app@db.internal:5433/app blue'`;
const WHO_GREEN = `box green 'postgres /app_green'`;

describe('pre-flight of PostgreSQL envs', () => {
  it('backup: tools, reachable, pg_dump as new as the server, no old idle transaction, room for every dump of the host', () => {
    const p = plan(oneStep('backup', 'env: blue\nwith: { copy_to: false }'), { host: 'box', inventory: INVENTORY });
    expect(p.preflight.map((c) => c.cmd)).toEqual([
      "bg_tool psql --version",
      "bg_tool pg_dump --version",
      "bg_tool pg_restore --version",
      `bg_pg_reach ${WHO_BLUE} ${BLUE}`,
      `bg_pg_dump_version ${WHO_BLUE} ${BLUE}`,
      `bg_pg_idle_locks ${WHO_BLUE} 120 ${BLUE}`,
      `bg_pg_space_for box /srv/backups blue 'postgres -app@db.internal:5433/app blue' ${BLUE} green 'postgres /app_green' ${GREEN}`,
      // After a share-db the app may use another database than the inventory's (share-db-pg.ts).
      "bg_pg_envfile_agrees blue /srv/blue/.env 'app blue'",
    ]);
    const unreachable = p.preflight.filter((c) => c.unreachableExit === PG_UNREACHABLE_EXIT).map((c) => c.cmd.split(' ')[0]);
    expect(unreachable).toEqual(['bg_pg_reach', 'bg_pg_dump_version', 'bg_pg_idle_locks', 'bg_pg_space_for']);
    expect(JSON.stringify(p)).not.toContain('s3cret');
  });

  it('schema-check reads only pg_catalog: no dump tools, no idle-transaction check', () => {
    const p = plan(oneStep('schema-check', 'with: { envs: [blue, green] }'), { host: 'box', inventory: INVENTORY });
    expect(p.preflight.map((c) => c.cmd)).toEqual(['bg_tool psql --version', `bg_pg_reach ${WHO_BLUE} ${BLUE}`, `bg_pg_reach ${WHO_GREEN} ${GREEN}`]);
  });

  it('refuses an idle threshold that is no duration, at file:line', () => {
    const inv = INVENTORY.replace('idle_in_transaction_max: 2m', 'idle_in_transaction_max: soon');
    expect(() => plan(oneStep('schema-check', 'with: { envs: [blue, green] }'), { host: 'box', inventory: inv })).toThrow(/hosts\.yaml:7:\d+: .*idle_in_transaction_max: `soon` is not a duration/);
  });
});

describe('db-inspect on PostgreSQL', () => {
  it('bg_pg_inspect with each env and its connection, and the PostgreSQL pre-flight', () => {
    const p = plan(oneStep('db-inspect', 'with: { envs: [green, blue], base: blue }'), { host: 'box', inventory: INVENTORY });
    expect(p.steps[0]!.run.map((c) => c.cmd)).toEqual([`bg_pg_inspect blue migrations name green ${GREEN} blue ${BLUE}`]);
    // The idle threshold: the inventory's (2m) for blue, the default 30 s for green.
    expect(p.preflight.map((c) => c.cmd)).toEqual([
      'bg_tool psql --version',
      `bg_pg_reach ${WHO_GREEN} ${GREEN}`,
      `bg_pg_idle_locks ${WHO_GREEN} 30 ${GREEN}`,
      `bg_pg_reach ${WHO_BLUE} ${BLUE}`,
      `bg_pg_idle_locks ${WHO_BLUE} 120 ${BLUE}`,
    ]);
  });

  it('refuses a SQLite env beside a PostgreSQL one, and a base that is not compared', () => {
    expect(problems(oneStep('db-inspect', 'with: { envs: [blue, lite] }'), { host: 'box', inventory: INVENTORY }).join('\n')).toMatch(/env `lite` is SQLite and another PostgreSQL/);
    expect(problems(oneStep('db-inspect', 'with: { envs: [blue, green], base: lite }'), { host: 'box', inventory: INVENTORY }).join('\n')).toMatch(/`base` must be auto or one of blue, green/);
  });
});

describe('a database that cannot be reached', () => {
  const result = (label: string, exitCode: number, stderr: string, unreachableExit?: number): CheckResult => ({
    check: { cmd: label, label, ...(unreachableExit ? { unreachableExit } : {}) },
    result: { exitCode, stdout: '', stderr, durationMs: 0 },
    ok: exitCode === 0,
  });

  it('is unreachable only when a check that says so exits with its status', () => {
    expect(isUnreachable(result('reach', 69, 'x', 69))).toBe(true);
    expect(isUnreachable(result('reach', 1, 'x', 69))).toBe(false);
    expect(isUnreachable(result('tool', 69, 'x'))).toBe(false);
    expect(isUnreachable(result('ok', 0, '', 69))).toBe(false);
  });

  it("libpq's reason, repeated by every check of that database, is said once", () => {
    const why = 'bg: cannot connect to the PostgreSQL database of env blue on host box (postgres bg@h/app): FATAL: password authentication failed for user "bg"';
    const text = describeFailedChecks('box', [result('a', 69, why, 69), result('b', 69, why, 69), result('c', 0, '')])!;
    expect(text.split('\n')).toEqual([
      'pre-flight failed on box (2 of 3 checks); nothing was changed:',
      '  ✖ a',
      `      ${why}`,
      '  ✖ b',
      '      (the same reason as above)',
    ]);
  });
});

describe('pg-checks.sh without a server', () => {
  it('bg_pg_major_of: one number per major version, two-part majors before 10', () => {
    expect(sh('for v in 15.10 16.1 9.6.24 10.0 17beta1; do bg_pg_major_of "$v"; done').stdout).toBe('1500\n1600\n906\n1000\n1700\n');
    expect(sh('bg_pg_major_of x.1').code).toBe(1);
  });

  it('a psql that cannot connect: exit 69 with the reason, no psql: exit 1', () => {
    // Port 1 on 127.0.0.1: nothing listens; libpq says so.
    const r = sh("bg_pg_reach box blue 'postgres 127.0.0.1:1/app' 127.0.0.1 1 app u '' ''");
    expect(r.code).toBe(69);
    expect(r.stderr).toMatch(/^bg: cannot connect to the PostgreSQL database of env blue on host box \(postgres 127\.0\.0\.1:1\/app\): .*(refused|failed)/);
    const none = sh("PATH=/nonexistent; bg_pg_reach box blue x 127.0.0.1 1 app u '' ''");
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no psql on the host's PATH/);
  });
});
