// The proxy's outage handling, pure parts: the hold window (inventory → HAProxy config → share-db's
// pre-flight), the freeze report, the cutover's exact commands, proxy-config's first live color.
import { describe, expect, it } from 'vitest';
import { parseInventory } from '../../src/config/parse.js';
import { haproxyConfig, holdWindowMs } from '../../src/plan/haproxy-config.js';
import { resolveHost } from '../../src/plan/host-model.js';
import { oneStep, plan, problems } from './actions-helpers.js';

const PROXY = 'kind: haproxy\nlive_port: 80\npreview_port: 8081\nconfig: /etc/bg/haproxy.cfg\nmap: /etc/bg/live.map\nsocket: /run/bg/admin.sock\nrun: { kind: pm2, app: bg-proxy }\ncolor_header: X-App-Color';
const inventory = (proxy = PROXY) =>
  `hosts:\n  box:\n    local: true\n    shared_db: /srv/shared.db\n    envs:\n      blue: { dir: /a, app: app-blue, port: 3000, db: db.sqlite, health: "http://127.0.0.1:3000/api/health" }\n      green: { dir: /b, app: app-green, port: 3001, db: db.sqlite, health: "http://127.0.0.1:3001/api/health" }\n    proxy:\n${proxy.split('\n').map((l) => `      ${l}`).join('\n')}\n`;
const sd = '"$HOME"/.bg/runs/20261121T120000Z-abcd/steps/1';
const tail = `${sd} /srv/shared.db blue /a/db.sqlite app-blue http://127.0.0.1:3000/api/health green /b/db.sqlite app-green http://127.0.0.1:3001/api/health`;

describe('the hold window', () => {
  it('is retries x min(timeout connect, 1 s), written into the generated configuration', () => {
    const h = resolveHost('box', parseInventory('hosts.yaml', inventory(PROXY + '\nhold: { retries: 40, connect_timeout_ms: 250 }')).value.hosts.box!);
    expect(holdWindowMs(h.proxy!)).toBe(10_000);
    const cfg = haproxyConfig({ name: h.name, envs: h.envs, proxy: h.proxy! });
    expect(cfg).toContain('    timeout connect 250ms\n    retries 40\n');
    expect(holdWindowMs({ hold: { retries: 5, connect_timeout_ms: 3000 } })).toBe(5000);
    expect(holdWindowMs(resolveHost('box', parseInventory('hosts.yaml', inventory()).value.hosts.box!).proxy!)).toBe(10_000);
  });
});

describe('share-db behind the proxy', () => {
  it('checks the hold window against the expected freeze in the pre-flight and reports the freeze', () => {
    const p = plan(oneStep('share-db', ''), { host: 'box', inventory: inventory() });
    expect(p.preflight.at(-1)).toEqual({
      cmd: 'bg_share_hold_check 10000 150 auto /etc/bg/haproxy.cfg 50 200 /run/bg/admin.sock /a/db.sqlite /b/db.sqlite',
      label: 'the proxy holds requests (10000 ms) longer than the freeze is expected to take, with margin',
    });
    expect(p.steps[0]!.run[3]!.cmd).toBe(`bg_share_restart 30 10000 ${tail}`);
    const given = plan(oneStep('share-db', 'with: { expected_freeze: 2500ms, hold_margin: 2 }'), { host: 'box', inventory: inventory() });
    expect(given.preflight.at(-1)!.cmd).toBe('bg_share_hold_check 10000 200 2500 /etc/bg/haproxy.cfg 50 200 /run/bg/admin.sock /a/db.sqlite /b/db.sqlite');
  });
  it('skips the check with hold_check: false, and has none without a proxy', () => {
    const off = plan(oneStep('share-db', 'with: { hold_check: false }'), { host: 'box', inventory: inventory() });
    expect(off.preflight.some((c) => c.cmd.startsWith('bg_share_hold_check'))).toBe(false);
    expect(off.steps[0]!.run[3]!.cmd).toBe(`bg_share_restart 30 10000 ${tail}`);
    expect(problems(oneStep('share-db', 'with: { hold_margin: 0.5 }'), { host: 'box', inventory: inventory() })).toEqual([expect.stringMatching(/hold_margin/)]);
  });
});

describe('the cutover', () => {
  it('sets each port line, moves the idle color, reloads HAProxy onto the live port around the live color, verifies both public ports, undoes all of it', () => {
    const s = plan(oneStep('cutover', ''), { host: 'box', inventory: inventory() }).steps[0]!;
    expect(s.capture.map((c) => c.cmd)).toEqual([`bg_env_capture ${sd}/live /a/.env PORT`, `bg_env_capture ${sd}/idle /b/.env PORT`]);
    expect(s.run.map((c) => c.cmd)).toEqual([
      `bg_env_set ${sd}/idle /b/.env PORT PORT=3001`,
      `bg_cutover_move ${sd}/idle app-green http://127.0.0.1:3001/api/health 30`,
      `bg_env_set ${sd}/live /a/.env PORT PORT=3000`,
      `bg_cutover_live ${sd} pm2 bg-proxy /etc/bg/haproxy.cfg /run/bg/admin.sock 80 app-blue http://127.0.0.1:3000/api/health 30`,
    ]);
    expect(s.verify.map((c) => c.cmd)).toEqual(['bg_proxy_check_live http://127.0.0.1:80/api/health blue 5 X-App-Color', 'bg_proxy_check_live http://127.0.0.1:8081/api/health green 5 X-App-Color']);
    expect(s.undo.map((c) => c.cmd)).toEqual([
      `bg_cutover_undo ${sd} pm2 bg-proxy /etc/bg/haproxy.cfg PORT 30 app-blue /a/.env http://127.0.0.1:80/api/health app-green /b/.env http://127.0.0.1:8081/api/health`,
    ]);
    const p = plan(oneStep('cutover', 'with: { live: green, port_key: APP_PORT }'), { host: 'box', inventory: inventory() });
    expect(p.preflight.at(-1)!.cmd).toBe('bg_cutover_ready /run/bg/admin.sock APP_PORT green /b/.env 80 3001 blue /a/.env 8081 3000');
  });
  it('refuses a live that is no color, a port key that is no variable name, a host without a proxy', () => {
    expect(problems(oneStep('cutover', 'with: { live: red }'), { host: 'box', inventory: inventory() })).toEqual([expect.stringMatching(/`live` must be one of the proxy's colors/)]);
    expect(problems(oneStep('cutover', 'with: { port_key: "A;B" }'), { host: 'box', inventory: inventory() })).toEqual([expect.stringMatching(/port_key: a variable name/)]);
    expect(problems(oneStep('cutover', ''), { host: 'box' })).toEqual([expect.stringMatching(/action `cutover` needs `proxy:`/)]);
  });
  it('proxy-config writes the first map file with the given live color', () => {
    const s = plan(oneStep('proxy-config', 'with: { live: green }'), { host: 'box', inventory: inventory() }).steps[0]!;
    expect(s.run[0]!.cmd).toMatch(/ 'live be_green\npreview be_blue\n'$/);
    expect(problems(oneStep('proxy-config', 'with: { live: red }'), { host: 'box', inventory: inventory() })).toEqual([expect.stringMatching(/`live` must be one of/)]);
  });
});
