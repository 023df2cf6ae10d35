import type { HostConfig } from '../config/inventory-schema.js';
import { findInventory, loadInventory } from './load.js';
import type { Transport } from '../transport/transport.js';
import { closeAll, connectAll } from './connect.js';
import { selectHosts } from './hosts.js';
import { resolveVars } from '../plan/vars.js';
import { withSecrets } from '../transport/secrets.js';

export interface HostArgs {
  host: string;
  inventory?: string;
  acceptNewHostKey?: boolean;
}

export interface ConnectedHost {
  name: string;
  config: HostConfig;
  transport: Transport;
}

/** For commands that work on hosts without a playbook: select, connect (exit 5 on failure), always close. */
export async function withHosts<T>(args: HostArgs, fn: (hosts: ConnectedHost[]) => Promise<T>): Promise<T> {
  const file = findInventory(args.inventory);
  const inventory = loadInventory(file).value;
  const names = selectHosts(inventory, args.host, file ?? 'the built-in inventory');
  const hosts = names.map((name) => ({ name, config: inventory.hosts[name]! }));
  const transports = await connectAll(hosts, { acceptNewHostKey: args.acceptNewHostKey });
  try {
    return await fn(hosts.map((h) => ({ ...h, transport: transports.get(h.name)! })));
  } finally {
    await closeAll(transports);
  }
}

/**
 * The transport with the host's secret vars (a PostgreSQL password) sent on stdin, as in a run:
 * for commands without a playbook (status, doctor, restore) whose commands name them.
 */
export function withHostSecrets(h: ConnectedHost): Transport {
  return withSecrets(h.transport, resolveVars([h.config.vars], process.env, [`the inventory's host ${h.name}`]).secrets);
}
