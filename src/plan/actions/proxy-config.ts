import { z } from 'zod';
import { PlanProblem, type ActionDef } from '../action.js';
import { haproxyConfig, mapText } from '../haproxy-config.js';
import { pm2App } from '../pm2-sh.js';
import { toolPresent } from '../preflight.js';
import { quotePath, shellQuote } from '../quote.js';
import { call } from '../sh-lib.js';
import { stepDir } from '../step-dir.js';
import { proxyWords, requireProxy } from './proxy-common.js';

const params = z
  .object({
    /** The color the map file names live when bg writes the first one (default: the first color). */
    live: z.string().min(1).optional(),
  })
  .strict();

/**
 * Write the HAProxy configuration generated from the inventory (and the map file, live on the
 * first color, if there is none yet): checked with `haproxy -c` in the pre-flight and again before
 * it replaces the file atomically, then a running proxy reloads it. Undo: the previous file back.
 */
export const proxyConfigAction: ActionDef<z.output<typeof params>> = {
  name: 'proxy-config',
  summary: "write the proxy's HAProxy configuration generated from the inventory (checked with haproxy -c)",
  env: 'none',
  params,
  build(input) {
    const { host, params: p } = input;
    const proxy = requireProxy(host, 'proxy-config');
    if (p.live !== undefined && !proxy.colors.includes(p.live)) throw new PlanProblem(`\`live\` must be one of the proxy's colors (${proxy.colors.join(', ')}), not \`${p.live}\``, ['with', 'live']);
    const text = shellQuote(haproxyConfig({ name: host.name, envs: host.envs, proxy }));
    const map = shellQuote(mapText(proxy, p.live ?? proxy.colors[0]));
    const w = proxyWords(proxy);
    const sd = quotePath(stepDir(input));
    if (proxy.run.kind === 'pm2') pm2App(proxy.run.app, [], `the proxy's pm2 app (proxy.run.app) in the inventory`);
    const name = shellQuote(proxy.run.kind === 'pm2' ? proxy.run.app : proxy.run.unit);
    const reload = { cmd: call('bg_proxy_reload', proxy.run.kind, name, w.socket), label: `reload ${proxy.run.kind === 'pm2' ? proxy.run.app : proxy.run.unit} if it runs` };
    return {
      mutates: true,
      preflight: [toolPresent('haproxy', '-v'), toolPresent('node'), { cmd: call('bg_proxy_config_test', text, w.map, map), label: 'haproxy -c accepts the generated configuration' }],
      capture: [{ cmd: call('bg_proxy_config_capture', sd, w.config, w.map), label: `keep ${proxy.config}` }],
      run: [{ cmd: call('bg_proxy_config_write', w.config, text, w.map, map), label: `write ${proxy.config}` }, reload],
      verify: [{ cmd: call('bg_proxy_config_check', w.config, text), label: `${proxy.config} is the generated configuration` }],
      undo: [{ cmd: call('bg_proxy_config_undo', sd, w.config, w.map), label: `${proxy.config} as it was` }, reload],
    };
  },
};
