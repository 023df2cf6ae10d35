import { readLiveColor } from '../run/proxy-state.js';
import { closeAll, connectAll } from './connect.js';
import { hostsNeedingLive, type PlanArgs } from './context.js';

/**
 * The live color of every selected host with a proxy, when the playbook uses live/idle names:
 * read from the host (read-only) before planning, so the pure planner gets it as data. The plan
 * then checks in its pre-flight that the color is still live when the run starts.
 */
export async function readLiveColors(args: PlanArgs & { acceptNewHostKey?: boolean }): Promise<Map<string, string>> {
  const hosts = hostsNeedingLive(args);
  const live = new Map<string, string>();
  if (hosts.length === 0) return live;
  const transports = await connectAll(hosts, { acceptNewHostKey: args.acceptNewHostKey });
  try {
    for (const h of hosts) live.set(h.name, await readLiveColor(transports.get(h.name)!, h.name, h.config));
  } finally {
    await closeAll(transports);
  }
  return live;
}
