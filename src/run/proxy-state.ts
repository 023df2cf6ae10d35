// Which color is live on a host's proxy, read from the host: HAProxy's runtime map through its
// admin socket (what traffic follows) and the map file (what a restarted proxy comes back with).
import type { HostConfig, ProxyConfig } from '../config/inventory-schema.js';
import { BgError, ExitCode } from '../errors.js';
import { MAINTENANCE_BACKEND } from '../plan/haproxy-config.js';
import { quotePath } from '../plan/quote.js';
import { call } from '../plan/sh-lib.js';
import { resolveHost } from '../plan/host-model.js';
import type { Transport } from '../transport/transport.js';

export interface ProxyState {
  /** The live color by the runtime map (the socket), else by the map file; undefined when neither answers. */
  live?: string;
  preview?: string;
  socketLive?: string;
  socketError?: string;
  fileLive?: string;
  fileMissing: boolean;
  /** Live routes to the maintenance backend (a maintenance window is open): by the runtime map, else the map file. */
  maintenance?: true;
  /** When bg last switched, and to which color (from MAP.switched). */
  switched?: { at: string; color: string };
}

/** The color a backend name stands for (`be_green` -> green), if it is one of the proxy's. */
function colorOf(proxy: ProxyConfig, backend: string | undefined): string | undefined {
  const c = backend?.replace(/^be_/, '');
  return c !== undefined && proxy.colors.includes(c) ? c : undefined;
}

/** Parse what `bg_proxy_state` prints (key=value lines). */
export function parseProxyState(proxy: ProxyConfig, text: string): ProxyState {
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0 && !kv.has(line.slice(0, i))) kv.set(line.slice(0, i), line.slice(i + 1));
  }
  const socketLive = colorOf(proxy, kv.get('socket_live'));
  const fileLive = colorOf(proxy, kv.get('file_live'));
  const live = socketLive ?? (kv.has('socket_live') ? undefined : fileLive);
  const maintenance = (kv.get('socket_live') ?? kv.get('file_live')) === MAINTENANCE_BACKEND;
  const [at, color] = (kv.get('switched') ?? '').split(' ');
  return {
    ...(live ? { live, preview: proxy.colors.find((c) => c !== live) } : {}),
    ...(socketLive ? { socketLive } : {}),
    ...(kv.has('socket_error') ? { socketError: kv.get('socket_error') } : {}),
    ...(fileLive ? { fileLive } : {}),
    fileMissing: kv.get('file') === 'missing',
    ...(maintenance ? { maintenance } : {}),
    ...(at && color ? { switched: { at, color } } : {}),
  };
}

/** Read the proxy's state on a host (read-only). */
export async function readProxyState(transport: Transport, name: string, config: HostConfig): Promise<ProxyState | undefined> {
  if (!config.proxy) return undefined;
  const host = resolveHost(name, config);
  const r = await transport.exec(host.commandPrefix + call('bg_proxy_state', quotePath(config.proxy.map), quotePath(config.proxy.socket)), { timeoutMs: 30_000 });
  return parseProxyState(config.proxy, r.stdout);
}

/** The live color, or a failure naming the host: a playbook that uses live/idle cannot be planned without it. */
export async function readLiveColor(transport: Transport, name: string, config: HostConfig): Promise<string> {
  const s = await readProxyState(transport, name, config);
  if (s?.live) return s.live;
  const why = s?.maintenance ? 'a maintenance window is open (live routes to the maintenance backend): end it with bg rollback of the run that opened it (bg history), or bg switch --to COLOR' : s?.socketError ? `its admin socket: ${s.socketError}` : s?.fileMissing ? `no map file ${config.proxy?.map} (bg run proxy writes it)` : 'the map names no color of the proxy';
  throw new BgError(`cannot tell which color is live on ${name}: ${why}`, ExitCode.stepFailed);
}
