// The proxy's pure parts: inventory validation, the generated HAProxy config, the switch and
// proxy-config plans (exact commands), live/idle in templates, parsing what the host reports.
import { describe, expect, it } from 'vitest';
import { parseInventory } from '../../src/config/parse.js';
import { InputError, formatProblem } from '../../src/errors.js';
import { haproxyConfig, mapText } from '../../src/plan/haproxy-config.js';
import { resolveHost } from '../../src/plan/host-model.js';
import { parseProxyState } from '../../src/run/proxy-state.js';
import { usesLiveNames } from '../../src/cli/context.js';
import { RUN, oneStep, plan, problems } from './actions-helpers.js';
import { loadYamlFile } from '../../src/config/parse.js';
import { playbookSchema } from '../../src/config/playbook-schema.js';
import { planRun } from '../../src/plan/planner.js';

const inventory = (proxy: string, envs = 'blue: { dir: /a, app: app-blue, port: 3000, health: "http://127.0.0.1:3000/api/health" }\n      green: { dir: /b, app: app-green, port: 3001, health: "http://127.0.0.1:3001/api/health" }') =>
  `hosts:\n  box:\n    local: true\n    envs:\n      ${envs}\n    proxy:\n${proxy
    .trim()
    .split('\n')
    .map((l) => `      ${l}`)
    .join('\n')}\n`;
const PROXY = 'kind: haproxy\nlive_port: 80\npreview_port: 8081\nconfig: /etc/bg/haproxy.cfg\nmap: /etc/bg/live.map\nsocket: /run/bg/admin.sock\nrun: { kind: pm2, app: bg-proxy }\ncolor_header: X-App-Color';

function inventoryProblems(text: string): string[] {
  try {
    parseInventory('hosts.yaml', text);
  } catch (e) {
    if (e instanceof InputError) return e.problems.map(formatProblem);
    throw e;
  }
  return [];
}

describe('proxy: in the inventory', () => {
  it('accepts a proxy and defaults bind and colors', () => {
    const inv = parseInventory('hosts.yaml', inventory(PROXY)).value;
    expect(inv.hosts.box!.proxy).toMatchObject({ bind: '*', colors: ['blue', 'green'], run: { kind: 'pm2', app: 'bg-proxy' } });
  });

  it('names file:line for a public port that is an app port, equal public ports, relative paths, a color without a port', () => {
    expect(inventoryProblems(inventory(PROXY.replace('live_port: 80', 'live_port: 3000')))).toEqual(['hosts.yaml:5:39: hosts.box.envs.blue.port: env `blue` listens on 3000, a public port of the proxy: give the app its own port']);
    expect(inventoryProblems(inventory(PROXY.replace('preview_port: 8081', 'preview_port: 80')))).toEqual([expect.stringMatching(/^hosts\.yaml:\d+:\d+: hosts\.box\.proxy\.preview_port: `preview_port` must differ from `live_port`$/)]);
    expect(inventoryProblems(inventory(PROXY.replace('/etc/bg/live.map', '~/live.map')))).toEqual([expect.stringMatching(/^hosts\.yaml:\d+:\d+: hosts\.box\.proxy\.map: an absolute path .*HAProxy does not expand ~/)]);
    expect(inventoryProblems(inventory(PROXY.replace('/etc/bg/live.map', '"/etc/bg/a b.map"')))).toHaveLength(1);
    expect(inventoryProblems(inventory(PROXY, 'blue: { dir: /a, port: 3000 }\n      green: { dir: /b }'))).toEqual([expect.stringMatching(/hosts\.box\.envs\.green\.port: env `green` needs `port`/)]);
    expect(inventoryProblems(inventory(PROXY + '\ncolors: [blue, red]'))).toEqual([expect.stringMatching(/hosts\.box\.proxy\.colors\.1: unknown env `red`/)]);
    expect(inventoryProblems(inventory(PROXY.replace('kind: haproxy', 'kind: nginx')))).toHaveLength(1);
    expect(inventoryProblems(inventory(PROXY.replace('run: { kind: pm2, app: bg-proxy }', 'run: { kind: systemd }')))).toEqual([]);
  });
});

describe('the generated HAProxy configuration', () => {
  const host = () => resolveHost('box', parseInventory('hosts.yaml', inventory(PROXY)).value.hosts.box!);
  it('routes each public port through the map file, holds requests with the measured settings, names the color', () => {
    const h = host();
    const cfg = haproxyConfig({ name: h.name, envs: h.envs, proxy: h.proxy! });
    expect(cfg).toContain('    stats socket /run/bg/admin.sock mode 600 level admin expose-fd listeners');
    for (const line of ['timeout connect 200ms', 'retries 50', 'retry-on conn-failure empty-response', 'option http-server-close']) expect(cfg).toContain(`    ${line}\n`);
    expect(cfg).toContain('frontend bg_live\n    bind :80\n    use_backend %[str(live),map(/etc/bg/live.map,be_blue)]\n');
    expect(cfg).toContain('frontend bg_preview\n    bind :8081\n    use_backend %[str(preview),map(/etc/bg/live.map,be_green)]\n');
    expect(cfg).toContain('backend be_green\n    http-response set-header X-Bg-Color green\n    server green 127.0.0.1:3001\n');
    expect(cfg).not.toMatch(/chroot|user |group /);
    expect(mapText(h.proxy!, 'green')).toBe('live be_green\npreview be_blue\n');
  });
  it('brackets an IPv6 bind address', () => {
    const h = resolveHost('box', parseInventory('hosts.yaml', inventory(PROXY + '\nbind: "::1"')).value.hosts.box!);
    expect(haproxyConfig({ name: h.name, envs: h.envs, proxy: h.proxy! })).toContain('    bind [::1]:80\n');
  });
});

describe('switch and proxy-config plans', () => {
  const sd = '"$HOME"/.bg/runs/20261121T120000Z-abcd/steps/1';
  it('switch: capture, gate, set map, verify through the live port, undo switching back', () => {
    const s = plan(oneStep('switch', 'env: green\nwith: { smoke: ["curl -fsS http://127.0.0.1:{{ proxy.preview_port }}/{{ vars.x }}"] }'), { host: 'box', inventory: inventory(PROXY), vars: { x: 'a b' } }).steps[0]!;
    expect(s.capture.map((c) => c.cmd)).toEqual([`bg_proxy_capture ${sd} /run/bg/admin.sock /etc/bg/live.map`]);
    expect(s.run.map((c) => c.cmd)).toEqual([
      "bg_switch_gate http://127.0.0.1:3001/api/health 10 app-green 2",
      "curl -fsS http://127.0.0.1:8081/'a b'",
      `bg_proxy_switch ${sd} /run/bg/admin.sock /etc/bg/live.map be_green be_blue`,
    ]);
    expect(s.verify.map((c) => c.cmd)).toEqual(["bg_proxy_check_live http://127.0.0.1:80/api/health green 5 X-App-Color"]);
    expect(s.undo.map((c) => c.cmd)).toEqual([`bg_proxy_undo_switch ${sd} /run/bg/admin.sock /etc/bg/live.map`]);
  });
  it('switch needs a proxy and a color of it', () => {
    expect(problems(oneStep('switch', 'env: blue'), { host: 'box' })).toEqual([expect.stringMatching(/action `switch` needs `proxy:` on host `box`/)]);
    expect(problems(oneStep('switch', 'env: red'), { host: 'box', inventory: inventory(PROXY, 'blue: { dir: /a, port: 3000 }\n      green: { dir: /b, port: 3001 }\n      red: { dir: /c }') })).toEqual([expect.stringMatching(/env `red` is not a color of the proxy/)]);
  });
  it('proxy-config: haproxy -c in the pre-flight, written atomically after haproxy -c, reloaded, undone', () => {
    const p = plan(oneStep('proxy-config', ''), { host: 'box', inventory: inventory(PROXY) });
    const s = p.steps[0]!;
    expect(p.preflight.map((c) => c.label)).toContain('haproxy -c accepts the generated configuration');
    expect(s.run.map((c) => c.cmd.split(' ')[0])).toEqual(['bg_proxy_config_write', 'bg_proxy_reload']);
    expect(s.run[1]!.cmd).toBe("bg_proxy_reload pm2 bg-proxy /run/bg/admin.sock");
    expect(s.undo.map((c) => c.cmd)).toEqual([`bg_proxy_config_undo ${sd} /etc/bg/haproxy.cfg /etc/bg/live.map`, "bg_proxy_reload pm2 bg-proxy /run/bg/admin.sock"]);
  });
});

describe('live and idle', () => {
  it('are template names when the live color is known, with a pre-flight that it is still live', () => {
    const inv = parseInventory('hosts.yaml', inventory(PROXY)).value;
    const pb = loadYamlFile('pb.yaml', oneStep('shell', 'with: { command: "echo {{ live.name }} {{ live.port }} {{ idle.name }} {{ idle.port }}", mutates: false }'), playbookSchema).loaded!;
    const planFor = (live?: string) => planRun({ playbook: pb.value, source: pb.source, host: resolveHost('box', inv.hosts.box!, live), vars: {}, runId: RUN });
    const p = planFor('green');
    expect(p.steps[0]!.run[0]!.cmd).toBe('echo green 3001 blue 3000');
    expect(p.preflight.at(-1)).toEqual({ cmd: 'bg_proxy_live_is /run/bg/admin.sock /etc/bg/live.map be_green', label: 'green is still live (as when planned)' });
    // Not read from the host: the names do not exist (an error when the plan is made).
    expect(() => planFor(undefined)).toThrow(/unknown name `live\.name`/);
  });
  it('finds live/idle references in a playbook', () => {
    expect(usesLiveNames('with: { command: "echo {{ live.name }}" }')).toBe(true);
    expect(usesLiveNames('with: { command: "echo {{idle.port}}" }')).toBe(true);
    expect(usesLiveNames('with: { command: "echo {{ vars.live }}" }')).toBe(false);
  });
  it('parses the state the host reports: the runtime map wins over the file', () => {
    const proxy = parseInventory('hosts.yaml', inventory(PROXY)).value.hosts.box!.proxy!;
    expect(parseProxyState(proxy, 'file_live=be_blue\nfile_preview=be_green\nsocket_live=be_green\nswitched=2026-01-01T00:00:00.000Z green\n')).toEqual({ live: 'green', preview: 'blue', socketLive: 'green', fileLive: 'blue', fileMissing: false, switched: { at: '2026-01-01T00:00:00.000Z', color: 'green' } });
    expect(parseProxyState(proxy, 'file_live=be_blue\nsocket_error=bg: cannot reach the admin socket /run/bg/admin.sock: ENOENT\n')).toMatchObject({ live: 'blue', socketError: expect.stringContaining('ENOENT') });
    expect(parseProxyState(proxy, 'file=missing\nsocket_live=be_evil\n').live).toBeUndefined();
  });
});
