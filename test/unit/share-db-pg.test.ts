// share-db on PostgreSQL envs: the builder's commands by exact equality, and what it refuses.
import { describe, expect, it } from 'vitest';
import { oneStep, plan, problems, RUN } from './actions-helpers.js';

const INVENTORY = `hosts:
  box:
    local: true
    journal: /j
    vars: { pgpw: { value: s3cret, secret: true } }
    shared_db: { postgres: { database: "app shared" } }
    envs:
      blue: { dir: /srv/blue, app: tt-blue, health: "http://127.0.0.1:3000/api/health", db: { postgres: { host: db1, port: 5433, database: app_blue, user: "-app", password_var: pgpw } } }
      green: { dir: /srv/green, app: tt-green, env_file: conf/.env, db: { postgres: { host: db1, port: 5433, database: app_green, user: "-app", password_var: pgpw } } }
`;
const SD = `/j/runs/${RUN}/steps/1`;
const TAIL = `${SD} 'app shared' db1 5433 -app '' "$BG_SECRET_pgpw" blue app_blue tt-blue http://127.0.0.1:3000/api/health /srv/blue/.env green app_green tt-green '' /srv/green/conf/.env`;
const sharePlan = (w = '{ envs: [blue, green] }', inventory = INVENTORY) => plan(oneStep('share-db', `with: ${w}`), { host: 'box', inventory });
const share = (w?: string, inventory?: string) => sharePlan(w, inventory).steps[0]!;

describe('share-db on PostgreSQL', () => {
  it('builds each step as one call of pg-share.sh with the tail, the password only as its secret variable', () => {
    const s = share();
    expect(sharePlan().preflight.map((c) => c.cmd)).toEqual([`bg_tool psql --version`, 'bg_pm2_known tt-blue', 'bg_pm2_known tt-green', `bg_pgs_ready ${TAIL}`]);
    expect(s.capture.map((c) => c.cmd)).toEqual([`bg_pgs_capture ${TAIL}`]);
    expect(s.run.map((c) => c.cmd)).toEqual([
      `bg_pgs_freeze 15 ${TAIL}`,
      `bg_pgs_copy auto 1 migrations name ${TAIL}`,
      `bg_pgs_switch 'PGDATABASE='\\''app shared'\\''' ${TAIL}`,
      `bg_pgs_restart 30 0 ${TAIL}`,
    ]);
    expect(s.verify.map((c) => c.cmd)).toEqual([`bg_pgs_verify_open ${TAIL}`, `bg_pgs_verify_old ${TAIL}`]);
    expect(s.undo.map((c) => c.cmd)).toEqual([`bg_pgs_undo ${RUN} 15 30 ${TAIL}`]);
    expect(s.discardCheck.map((c) => c.cmd)).toEqual([`bg_pgs_discard ${RUN} migrations name ${TAIL}`]);
    expect(JSON.stringify(s)).not.toContain('s3cret');
  });

  it('a given base and timeouts reach the calls', () => {
    const s = share('{ envs: [green, blue], base: green, release_timeout: 5s, wait: 10s, same_schema: false }');
    const tail = `${SD} 'app shared' db1 5433 -app '' "$BG_SECRET_pgpw" green app_green tt-green '' /srv/green/conf/.env blue app_blue tt-blue http://127.0.0.1:3000/api/health /srv/blue/.env`;
    expect(s.run.map((c) => c.cmd).slice(0, 2)).toEqual([`bg_pgs_freeze 5 ${tail}`, `bg_pgs_copy green 0 migrations name ${tail}`]);
    expect(s.undo.map((c) => c.cmd)).toEqual([`bg_pgs_undo ${RUN} 5 10 ${tail}`]);
  });

  it('behind a proxy: the hold window is checked and passed to the restart', () => {
    const inv = INVENTORY.replace('    envs:', '    proxy: { kind: haproxy, live_port: 80, preview_port: 81, config: /p/h.cfg, map: /p/live.map, socket: /p/admin.sock, run: { kind: pm2, app: bg-proxy } }\n    envs:')
      .replace('app: tt-blue,', 'app: tt-blue, port: 3000,').replace('app: tt-green,', 'app: tt-green, port: 3001,');
    const s = share(undefined, inv);
    expect(sharePlan(undefined, inv).preflight.at(-1)!.cmd).toBe(`bg_pgs_hold_check 10000 150 auto /p/h.cfg 50 200 /p/admin.sock ${TAIL}`);
    expect(s.run[3]!.cmd).toBe(`bg_pgs_restart 30 10000 ${TAIL}`);
  });

  it('refuses without a PostgreSQL shared_db, across servers or roles, mixed kinds, and the shared database as an env database', () => {
    expect(problems(oneStep('share-db', 'with: {}'), { host: 'box', inventory: INVENTORY.replace(/ {4}shared_db:.*\n/, '') }).join('\n')).toMatch(/no `shared_db: \{ postgres: \{ database: \.\.\. \} \}`/);
    expect(problems(oneStep('share-db', 'with: {}'), { host: 'box', inventory: INVENTORY.replace('host: db1, port: 5433, database: app_green', 'host: db2, port: 5433, database: app_green') }).join('\n')).toMatch(/one server with one role .* `green` differs from `blue`/);
    const mixed = INVENTORY.replace(/green: \{ dir: \/srv\/green.*\n/, 'green: { dir: /srv/green, app: tt-green, db: data.db }\n');
    expect(problems(oneStep('share-db', 'with: {}'), { host: 'box', inventory: mixed }).join('\n')).toMatch(/env `green` is SQLite and another PostgreSQL/);
    expect(problems(oneStep('share-db', 'with: {}'), { host: 'box', inventory: INVENTORY.replace('"app shared"', 'app_green') }).join('\n')).toMatch(/the shared database `app_green` is an env's own database/);
    expect(problems(oneStep('share-db', 'with: { base: red }'), { host: 'box', inventory: INVENTORY }).join('\n')).toMatch(/`base` must be auto or one of blue, green/);
  });

  it('a PostgreSQL backup first checks that the env file names the inventory database', () => {
    const p = plan(oneStep('backup', 'env: blue\nwith: { copy_to: false }'), { host: 'box', inventory: INVENTORY });
    expect(p.preflight.map((c) => c.cmd)).toContain('bg_pg_envfile_agrees blue /srv/blue/.env app_blue');
  });
});
