import type { HostConfig } from '../config/inventory-schema.js';
import type { Transport } from './transport.js';

export interface TransportOptions {
  acceptNewHostKey?: boolean;
}

/** Pick the transport for a host. Both load lazily: `bg plan` pays for neither execa nor ssh2. */
export async function createTransport(name: string, cfg: HostConfig, opts: TransportOptions = {}): Promise<Transport> {
  if (cfg.local || !cfg.ssh) return new (await import('./local.js')).LocalTransport(name);
  const { createSshTransport } = await import('./ssh.js');
  return createSshTransport(name, cfg.ssh, { ...opts, onNotice: (m) => process.stderr.write(`bg: ${name}: ${m}\n`) });
}
