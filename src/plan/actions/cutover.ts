import { z } from 'zod';
import { PlanProblem, type ActionDef } from '../action.js';
import { duration } from '../duration.js';
import type { ResolvedEnv } from '../host-model.js';
import { pm2App, pm2AppKnown } from '../pm2-sh.js';
import { toolPresent } from '../preflight.js';
import { joinPath, quotePath, shellQuote } from '../quote.js';
import { call } from '../sh-lib.js';
import { stepDir } from '../step-dir.js';
import { proxyWords, publicUrl, requireProxy } from './proxy-common.js';

const params = z
  .object({
    /** The color that serves the public live port now (the other one serves the preview port). */
    live: z.string().min(1).optional(),
    /** The .env key each app reads its port from. */
    port_key: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a variable name').default('PORT'),
    /** How long each app may take to answer again after its restart. */
    wait: duration.default(30_000),
  })
  .strict();

const secs = (ms: number) => String(Math.max(1, Math.ceil(ms / 1000)));

/**
 * The one-time cutover from apps listening on the public ports to HAProxy in front of them. The
 * inventory already describes the result: `proxy.live_port`/`preview_port` are the ports the apps
 * listen on now, each color's `port` is its own loopback port to be. Per color the .env port line
 * is set (saved first); the idle color restarts on its own port; HAProxy starts on the preview port
 * only (the live one is still the app's); then the live color stops, HAProxy reloads onto the live
 * port at once (master-worker: a signal, ~30 ms) and the live color starts on its own port while
 * HAProxy holds the requests: only connections made between the live app's stop and HAProxy's
 * bind are refused. Write the configuration first (`proxy-config`).
 * Undo: the .env files back, HAProxy stopped (removed from pm2 if this step created it), the apps
 * restarted on the public ports.
 */
export const cutoverAction: ActionDef<z.output<typeof params>> = {
  name: 'cutover',
  summary: 'move the apps from the public ports to their own ports behind HAProxy (one time; undone by moving them back)',
  env: 'none',
  params,
  build(input) {
    const { params: p, host } = input;
    const proxy = requireProxy(host, 'cutover');
    const live = p.live ?? proxy.colors[0];
    if (!proxy.colors.includes(live)) throw new PlanProblem(`\`live\` must be one of the proxy's colors (${proxy.colors.join(', ')}), not \`${live}\``, ['with', 'live']);
    const idle = proxy.colors[0] === live ? proxy.colors[1] : proxy.colors[0];
    const env = (name: string): ResolvedEnv & { app: string; health: string; port: number } => {
      const e = host.envs[name]!;
      if (!e.app || !e.health || e.port === undefined) throw new PlanProblem(`env \`${name}\` needs \`app\`, \`port\` and \`health\` (on its own port) for the cutover`, ['with', 'live']);
      pm2App(e.app, ['with', 'live'], `env ${name}'s app in the inventory`);
      return e as ResolvedEnv & { app: string; health: string; port: number };
    };
    const L = env(live);
    const I = env(idle);
    const publicPort = { [live]: proxy.live_port, [idle]: proxy.preview_port } as Record<string, number>;
    const w = proxyWords(proxy);
    const sdRaw = stepDir(input);
    const sd = quotePath(sdRaw);
    const sub = (name: 'live' | 'idle') => quotePath(joinPath(sdRaw, name));
    const key = shellQuote(p.port_key);
    const line = (e: ResolvedEnv & { port: number }) => shellQuote(`${p.port_key}=${e.port}`);
    const wait = secs(p.wait);
    if (proxy.run.kind === 'pm2') pm2App(proxy.run.app, [], `the proxy's pm2 app (proxy.run.app) in the inventory`);
    const runName = shellQuote(proxy.run.kind === 'pm2' ? proxy.run.app : proxy.run.unit);
    const url = (e: ResolvedEnv & { health: string }, port: number) => shellQuote(publicUrl(proxy, port, new URL(e.health).pathname));
    const header = proxy.color_header ? shellQuote(proxy.color_header) : undefined;
    const ready = call('bg_cutover_ready', w.socket, key, ...[L, I].flatMap((e) => [shellQuote(e.name), quotePath(e.envFile), String(publicPort[e.name]), String(e.port)]));
    return {
      mutates: true,
      preflight: [
        toolPresent('haproxy', '-v'),
        toolPresent('curl'),
        toolPresent('node'),
        pm2AppKnown(L.app),
        pm2AppKnown(I.app),
        { cmd: ready, label: `HAProxy not running yet; ${live} on :${proxy.live_port} and ${idle} on :${proxy.preview_port} by their .env ${p.port_key}; ports ${L.port} and ${I.port} free` },
      ],
      capture: [
        { cmd: call('bg_env_capture', sub('live'), quotePath(L.envFile), key), label: `save ${L.envFile}` },
        { cmd: call('bg_env_capture', sub('idle'), quotePath(I.envFile), key), label: `save ${I.envFile}` },
      ],
      run: [
        { cmd: call('bg_env_set', sub('idle'), quotePath(I.envFile), key, line(I)), label: `${idle}: ${p.port_key}=${I.port} in ${I.envFile}` },
        { cmd: call('bg_cutover_move', sub('idle'), shellQuote(I.app), shellQuote(I.health), wait), label: `${idle} restarts on its own port ${I.port} (:${proxy.preview_port} is refused until HAProxy starts)` },
        { cmd: call('bg_env_set', sub('live'), quotePath(L.envFile), key, line(L)), label: `${live}: ${p.port_key}=${L.port} in ${L.envFile}` },
        {
          cmd: call('bg_cutover_live', sd, proxy.run.kind, runName, w.config, w.socket, String(proxy.live_port), shellQuote(L.app), shellQuote(L.health), wait),
          label: `HAProxy starts on :${proxy.preview_port}; ${live} stops, HAProxy reloads onto :${proxy.live_port}, ${live} starts on its own port ${L.port}`,
        },
      ],
      verify: [
        { cmd: call('bg_proxy_check_live', url(L, proxy.live_port), shellQuote(live), '5', header), label: `:${proxy.live_port} is served by ${live} through HAProxy` },
        { cmd: call('bg_proxy_check_live', url(I, proxy.preview_port), shellQuote(idle), '5', header), label: `:${proxy.preview_port} is served by ${idle} through HAProxy` },
      ],
      undo: [
        {
          cmd: call('bg_cutover_undo', sd, proxy.run.kind, runName, w.config, key, wait, shellQuote(L.app), quotePath(L.envFile), url(L, proxy.live_port), shellQuote(I.app), quotePath(I.envFile), url(I, proxy.preview_port)),
          label: `HAProxy stopped; ${live} and ${idle} back on :${proxy.live_port} and :${proxy.preview_port}`,
        },
      ],
    };
  },
};
