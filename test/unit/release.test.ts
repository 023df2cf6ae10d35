// The release actions' plans (exact commands), the built-in release playbook against hosts with
// and without a proxy, and the refusals made when the plan is made.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RUN, oneStep, plan, problems } from './actions-helpers.js';
import { loadInventory } from '../../src/cli/load.js';
import { loadYamlFile } from '../../src/config/parse.js';
import { playbookSchema } from '../../src/config/playbook-schema.js';
import { resolveHost } from '../../src/plan/host-model.js';
import { planRun } from '../../src/plan/planner.js';

const BUILTIN = readFileSync(new URL('../../playbooks/release.yaml', import.meta.url), 'utf8');
const GREEN = '/home/ubuntu/TimeTracking-GREEN/server';
const SD = `"$HOME"/.bg/runs/${RUN}/steps/1`;
const NO_PROXY = `hosts:
  box:
    local: true
    envs:
      blue: { dir: /srv/blue, app: app-blue, port: 3000, db: db.sqlite, health: "http://127.0.0.1:3000/h", migrate: node current/migrate.js }
      green: { dir: /srv/green, app: app-green, port: 3001, db: db.sqlite, health: "http://127.0.0.1:3001/h", migrate: node current/migrate.js }
    release: { repo: /srv/repo.git }
`;

describe('release actions', () => {
  it('release-fetch: a git ref fetched by the host, dependencies installed, undone by removing the release', () => {
    const s = plan(oneStep('release-fetch', 'env: green\nwith: { ref: v1.4.0 }')).steps[0]!;
    expect(s.run.map((c) => c.cmd)).toEqual([
      `bg_release_fetch_git ${SD} ${GREEN}/releases ${RUN} https://git.example.com/timetracking.git v1.4.0`,
      `bg_release_install ${GREEN}/releases/${RUN} 'npm ci --omit=dev'`,
    ]);
    expect(s.undo.map((c) => c.cmd)).toEqual([`bg_release_undo_fetch ${SD} ${GREEN}/releases ${RUN} /home/ubuntu/TimeTracking-BLUE/server/current ${GREEN}/current`]);
  });

  it('release-fetch: a local source is uploaded by bg (the plan names it), a ref must look like one', () => {
    const p = plan(oneStep('release-fetch', "env: green\nwith: { source: './build 1.tgz' }"));
    expect(p.uploads).toEqual([{ local: './build 1.tgz', remote: `~/.bg/uploads/${RUN}.tar` }]);
    expect(p.steps[0]!.run[0]!.cmd).toBe(`bg_release_fetch_archive ${SD} ${GREEN}/releases ${RUN} "$HOME"/.bg/uploads/${RUN}.tar 'archive ./build 1.tgz'`);
    expect(problems(oneStep('release-fetch', 'env: green\nwith: { ref: --upload-pack=x }'))[0]).toMatch(/ref "--upload-pack=x" is not a git ref name/);
    expect(problems(oneStep('release-fetch', 'env: green\nwith: { ref: a, source: b }'))[0]).toMatch(/not both/);
    expect(problems(oneStep('release-fetch', 'env: green'))[0]).toMatch(/give `ref`/);
  });

  it('release-link, release-start: the current link, the pm2 app through it, its undo after every other', () => {
    const link = plan(oneStep('release-link', 'env: green')).steps[0]!;
    expect(link.run[0]!.cmd).toBe(`bg_link_switch ${GREEN}/current releases/${RUN} ${GREEN}/current.OLD`);
    const start = plan(oneStep('release-start', 'env: green')).steps[0]!;
    expect(start.run[0]!.cmd).toBe(`bg_release_app_start ${SD} timetracking-green ${GREEN}/current/server.js ${GREEN} 30`);
    expect(start.undoLast).toBe(true);
  });

  it('release-migrate: the lint gate reads the release before it is fetched; the undo restores only when asked', () => {
    const p = plan(oneStep('release-migrate', 'env: green\nwith: { ref: v1.4.0 }'));
    expect(p.gates[0]!.cmd).toBe(`bg_release_listing git ${GREEN}/releases https://git.example.com/timetracking.git v1.4.0 migrations ${GREEN}/database.db 'SELECT name FROM "migrations"' 'bg: the release has no migrations directory migrations (set with.migrations_dir, or with.lint: false)'`);
    const s = p.steps[0]!;
    expect(s.undo[0]!.cmd).toMatch(/^if bg_restore_db_asked; then\n[\s\S]*\nelse echo 'database changes of green kept/);
    expect(s.discardCheck![0]!.cmd).toMatch(/^bg_restore_db_asked \|\| exit 0\nbg_rows_since /);
    const always = plan(oneStep('release-migrate', 'env: green\nwith: { ref: v1.4.0, db_undo: always }')).steps[0]!;
    expect(always.undo[0]!.cmd).not.toMatch(/bg_restore_db_asked/);
  });

  it('release-watch: the proxy counters of the released color, back to the other one', () => {
    const s = plan(oneStep('release-watch', 'env: green\nwith: { window: 30s, max_error_rate: 2 }')).steps[0]!;
    expect(s.run[0]!.cmd).toBe('bg_release_watch /home/ubuntu/bg-proxy/admin.sock /home/ubuntu/bg-proxy/live.map be_green be_blue 30 1 2 20');
    expect(s.mutates).toBe(false);
  });

  it('needs release: on the host', () => {
    expect(problems(oneStep('release-link', 'env: blue'), { host: 'box' })[0]).toMatch(/action `release-link` needs `release:` on host `box`/);
  });
});

describe('the release playbook', () => {
  it('with a proxy: fetch, link, backup, migrate, start, gate, prune, switch, watch on the idle color', () => {
    const inv = loadInventory(new URL('../fixtures/hosts.yaml', import.meta.url).pathname).value;
    const pb = loadYamlFile('release.yaml', BUILTIN, playbookSchema).loaded!;
    // BLUE live (read from the host before planning): GREEN is idle.
    const p = planRun({ playbook: pb.value, source: pb.source, host: resolveHost('prod', inv.hosts.prod!, 'blue'), vars: { ref: 'v1.4.0' }, runId: RUN });
    expect(p.steps.map((s) => `${s.action}${s.env ? ` ${s.env}` : ''}`)).toEqual([
      'release-fetch green', 'release-link green', 'backup green', 'release-migrate green', 'release-start green', 'release-gate green', 'release-prune', 'release-switch green', 'release-watch green',
    ]);
    expect(p.endedEarly).toBeUndefined();
  });

  it('without a proxy: released to the second env, and the plan ends at the switch step, which says why', () => {
    const p = plan(BUILTIN, { inventory: NO_PROXY, host: 'box', vars: { ref: 'v2' } });
    expect(p.steps.map((s) => s.action)).toEqual(['release-fetch', 'release-link', 'backup', 'release-migrate', 'release-start', 'release-gate', 'release-prune', 'release-switch']);
    expect(p.steps.at(-1)!.env).toBe('green');
    expect(p.steps.at(-1)!.mutates).toBe(false);
    expect(p.endedEarly).toMatch(/host box has no proxy: nothing to switch; the release ends here \(green runs it on port 3001\)/);
  });
});
