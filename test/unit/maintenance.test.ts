// The maintenance window's pure parts: the HAProxy backend answering the 503, the maintenance
// action's plans with and without a proxy (exact commands), migrate's allow_breaking, and the
// built-in playbook's shape.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseInventory } from '../../src/config/parse.js';
import { DEFAULT_MAINTENANCE_PAGE, haproxyConfig } from '../../src/plan/haproxy-config.js';
import { resolveHost } from '../../src/plan/host-model.js';
import { parseProxyState } from '../../src/run/proxy-state.js';
import { oneStep, plan, problems, sh } from './actions-helpers.js';

const inventory = (proxy: string) =>
  `hosts:\n  box:\n    local: true\n    envs:\n      blue: { dir: /a, app: app-blue, port: 3000, db: a.db, migrate: node migrate.js, health: "http://127.0.0.1:3000/api/health" }\n      green: { dir: /b, app: app-green, port: 3001, db: b.db, migrate: node migrate.js, health: "http://127.0.0.1:3001/api/health" }\n    proxy:\n${proxy
    .trim()
    .split('\n')
    .map((l) => `      ${l}`)
    .join('\n')}\n`;
const PROXY = 'kind: haproxy\nlive_port: 80\npreview_port: 8081\nconfig: /etc/bg/haproxy.cfg\nmap: /etc/bg/live.map\nsocket: /run/bg/admin.sock\nrun: { kind: pm2, app: bg-proxy }\ncolor_header: X-App-Color';
const RUNDIR = '"$HOME"/.bg/runs/20261121T120000Z-abcd';
const sd = `${RUNDIR}/steps/1`;

describe('the maintenance backend in the generated HAProxy configuration', () => {
  const cfg = (extra = '') => {
    const h = resolveHost('box', parseInventory('hosts.yaml', inventory(PROXY + extra)).value.hosts.box!);
    return haproxyConfig({ name: h.name, envs: h.envs, proxy: h.proxy! });
  };
  it('answers 503 with Retry-After and the built-in page by default', () => {
    expect(cfg()).toContain(
      `backend bg_maintenance\n    http-request return status 503 content-type "text/html; charset=utf-8" string "${DEFAULT_MAINTENANCE_PAGE}" hdr Retry-After 60 hdr X-Bg-Color maintenance hdr Cache-Control no-store\n`,
    );
    // The built-in page goes inside a quoted HAProxy word: nothing in it may end or escape it.
    expect(DEFAULT_MAINTENANCE_PAGE).not.toMatch(/["\\$']/);
  });
  it("answers the user's page and Retry-After from the inventory", () => {
    expect(cfg('\nmaintenance: { page: /srv/www/maintenance.html, retry_after: 300 }')).toContain(
      '    http-request return status 503 content-type "text/html; charset=utf-8" file /srv/www/maintenance.html hdr Retry-After 300 hdr X-Bg-Color maintenance hdr Cache-Control no-store\n',
    );
  });
  it('refuses a page path HAProxy would read differently, and a relative one (file:line)', () => {
    for (const page of ['"/srv/a b.html"', 'page.html', '"/srv/$x.html"']) {
      expect(() => parseInventory('hosts.yaml', inventory(PROXY + `\nmaintenance: { page: ${page} }`))).toThrow(/hosts\.yaml:\d+:\d+: hosts\.box\.proxy\.maintenance\.page: an absolute path/);
    }
    expect(() => parseInventory('hosts.yaml', inventory(PROXY + '\nmaintenance: { retry_after: 0 }'))).toThrow(/retry_after/);
  });
});

describe('the maintenance action', () => {
  it('begin behind a proxy: pre-flight, capture, both ports to the maintenance backend, verified 503s, undo routing back', () => {
    const p = plan(oneStep('maintenance', 'with: { op: begin }'), { host: 'box', inventory: inventory(PROXY) });
    const s = p.steps[0]!;
    expect(s.mutates).toBe(true);
    expect(p.preflight.map((c) => c.cmd)).toContain('bg_maint_ready /run/bg/admin.sock /etc/bg/live.map');
    expect(s.capture.map((c) => c.cmd)).toEqual([`bg_proxy_capture ${sd} /run/bg/admin.sock /etc/bg/live.map`]);
    expect(s.run.map((c) => c.cmd)).toEqual([`bg_maint_begin ${RUNDIR} ${sd} /run/bg/admin.sock /etc/bg/live.map`]);
    expect(s.verify.map((c) => c.cmd)).toEqual(['bg_maint_check http://127.0.0.1:80/api/health 3 60']);
    expect(s.undo.map((c) => c.cmd)).toEqual([`bg_proxy_undo_switch ${sd} /run/bg/admin.sock /etc/bg/live.map`]);
  });
  it('end behind a proxy: back to the colors recorded at begin, its length, verified through the live port', () => {
    const s = plan(oneStep('maintenance', "with: { op: end, path: \"/x'y\", check_requests: 2 }"), { host: 'box', inventory: inventory(PROXY) }).steps[0]!;
    expect(s.run.map((c) => c.cmd)).toEqual([`bg_maint_end ${RUNDIR} ${sd} /run/bg/admin.sock /etc/bg/live.map`]);
    expect(s.verify.map((c) => c.cmd)).toEqual([`bg_maint_check_back ${RUNDIR} 'http://127.0.0.1:80/x'\\''y' 2 X-App-Color`]);
    expect(s.undo.map((c) => c.cmd)).toEqual([`bg_proxy_undo_switch ${sd} /run/bg/admin.sock /etc/bg/live.map`]);
  });
  it('without a proxy only records the window: nothing to undo', () => {
    const b = plan(oneStep('maintenance', 'with: { op: begin }'), { host: 'box' }).steps[0]!;
    expect(b).toMatchObject({ mutates: false, verify: [], undo: [] });
    expect(b.run.map((c) => c.cmd)).toEqual([expect.stringMatching(/^bg_maint_begin_direct \S+$/)]);
    const e = plan(oneStep('maintenance', 'with: { op: end }'), { host: 'box' }).steps[0]!;
    expect(e.run.map((c) => c.cmd)).toEqual([expect.stringMatching(/^bg_maint_end_direct \S+ \S+\/steps\/1$/)]);
  });
  it('needs an op, and no env', () => {
    expect(problems(oneStep('maintenance', ''), { host: 'box' })).toEqual([expect.stringMatching(/op/)]);
    expect(problems(oneStep('maintenance', 'env: blue\nwith: { op: begin }'), { host: 'box' })).toHaveLength(1);
  });
});

describe("migrate's allow_breaking", () => {
  it('marks the gate as letting breaking migrations through, and records it in the step dir', () => {
    const p = plan(oneStep('migrate', 'env: blue\nwith: { allow_breaking: true }'), { host: 'box', inventory: inventory(PROXY) });
    expect(p.gates).toEqual([expect.objectContaining({ allowBreaking: true, label: 'pending migrations of blue linted (breaking ones allowed: with.allow_breaking)' })]);
    expect(p.steps[0]!.capture.map((c) => c.cmd)).toContain(`bg_migrate_breaking_allowed ${sd}`);
    const plain = plan(oneStep('migrate', 'env: blue'), { host: 'box', inventory: inventory(PROXY) });
    expect(plain.gates[0]).not.toHaveProperty('allowBreaking');
    expect(plain.steps[0]!.capture.map((c) => c.cmd.split(' ')[0])).toEqual(['bg_migrate_capture']);
  });
});

describe('the maintenance playbook', () => {
  it('opens the window, stops, backs up, migrates (breaking allowed), starts and checks both colors, then closes it', () => {
    const text = readFileSync(join(import.meta.dirname, '../../playbooks/maintenance.yaml'), 'utf8');
    const p = plan(text, { host: 'box', inventory: inventory(PROXY) });
    expect(p.steps.map((s) => `${s.action}${s.env ? ` ${s.env}` : ''}`)).toEqual([
      'maintenance', 'pm2 blue', 'pm2 green', 'backup blue', 'backup green', 'migrate blue', 'migrate green', 'pm2 blue', 'pm2 green', 'health blue', 'health green', 'maintenance',
    ]);
    expect(p.gates.every((g) => g.allowBreaking)).toBe(true);
    // The same playbook plans on a host without a proxy.
    expect(plan(text, { host: 'box', inventory: inventory(PROXY).replace(/\n    proxy:[\s\S]*$/, '\n') }).steps).toHaveLength(12);
  });
});

describe('a host in a maintenance window', () => {
  it('is reported as such, with no live color', () => {
    const proxy = parseInventory('hosts.yaml', inventory(PROXY)).value.hosts.box!.proxy!;
    expect(parseProxyState(proxy, 'file_live=bg_maintenance\nfile_preview=bg_maintenance\nsocket_live=bg_maintenance\nswitched=2026-01-01T00:00:00.000Z maintenance\n')).toMatchObject({ maintenance: true, fileMissing: false });
    expect(parseProxyState(proxy, 'file_live=bg_maintenance\nsocket_error=bg: cannot reach the admin socket\n')).toMatchObject({ maintenance: true });
    expect(parseProxyState(proxy, 'file_live=bg_maintenance\nsocket_live=be_blue\n')).not.toHaveProperty('maintenance');
  });
});

describe('the window in the remote library (sh)', () => {
  it('without a proxy: records the start, reports the length, keeps it in the step dir; an end without a begin is refused', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'bg maint-')), "run '$x");
    mkdirSync(dir);
    const q = `'${dir.replace(/'/g, "'\\''")}'`;
    expect(sh(`bg_maint_end_direct ${q} ${q}/steps/9`)).toMatchObject({ code: 1, stderr: expect.stringMatching(/this run opened no maintenance window .* a maintenance step with op: begin comes first/) });
    expect(sh(`bg_maint_begin_direct ${q}`)).toMatchObject({ code: 0, stdout: expect.stringMatching(/no proxy: connections to the apps are refused/) });
    const r = sh(`sleep 0.2; bg_maint_end_direct ${q} ${q}/steps/9`);
    expect(r.code, r.stderr).toBe(0);
    const ms = Number(/closed after (\d+) ms/.exec(r.stdout)?.[1]);
    expect(ms).toBeGreaterThanOrEqual(200);
    expect(Number(readFileSync(join(dir, 'steps/9/window-ms'), 'utf8'))).toBe(ms);
  });
  it('the end refuses a record without a color to return to', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bgm-'));
    writeFileSync(join(dir, 'maintenance'), '1 - -\n');
    expect(sh(`bg_maint_end '${dir}' '${dir}/s' /nonexistent.sock /nonexistent.map`)).toMatchObject({ code: 1, stderr: expect.stringMatching(/records no color to return to/) });
  });
});
