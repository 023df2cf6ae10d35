// What the proxy actions share: the host's proxy or a located problem, its quoted paths, its URLs.
import type { ProxyConfig } from '../../config/inventory-schema.js';
import { PlanProblem } from '../action.js';
import type { ResolvedHost } from '../host-model.js';
import { backendOf } from '../haproxy-config.js';
import { quotePath } from '../quote.js';
import { call } from '../sh-lib.js';
import type { Command } from '../types.js';

export function requireProxy(host: ResolvedHost, action: string): ProxyConfig {
  if (!host.proxy) throw new PlanProblem(`action \`${action}\` needs \`proxy:\` on host \`${host.name}\` in the inventory`);
  return host.proxy;
}

/** The proxy's files as quoted shell words. */
export function proxyWords(p: ProxyConfig): { config: string; map: string; socket: string } {
  return { config: quotePath(p.config), map: quotePath(p.map), socket: quotePath(p.socket) };
}

/** Where a client on the host reaches a public port (a wildcard bind is reached on loopback). */
export function publicUrl(p: ProxyConfig, port: number, path: string): string {
  const addr = p.bind === '*' || p.bind === '0.0.0.0' ? '127.0.0.1' : p.bind === '::' || p.bind === '[::]' ? '[::1]' : p.bind.includes(':') && !p.bind.startsWith('[') ? `[${p.bind}]` : p.bind;
  return `http://${addr}:${port}${path.startsWith('/') ? path : `/${path}`}`;
}

/** Pre-flight: the color the plan was made with (`{{ live.* }}`) is still the live one. */
export function liveStillCheck(p: ProxyConfig, live: string): Command {
  return { cmd: call('bg_proxy_live_is', quotePath(p.socket), quotePath(p.map), backendOf(live)), label: `${live} is still live (as when planned)` };
}

/** Whether a playbook has steps that only a host with a proxy can run. */
export function needsProxy(playbook: { steps: ReadonlyArray<{ action: string }> }): boolean {
  return playbook.steps.some((s) => s.action === 'switch' || s.action === 'proxy-config' || s.action === 'cutover');
}
