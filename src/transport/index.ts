import type { HostConfig } from '../config/inventory-schema.js';
import { LocalTransport } from './local.js';
import type { Transport } from './transport.js';

export interface TransportOptions {
  acceptNewHostKey?: boolean;
}

/** Pick the transport for a host. SSH is loaded lazily: `bg plan` and local runs never pay for it. */
export async function createTransport(name: string, cfg: HostConfig, opts: TransportOptions = {}): Promise<Transport> {
  if (cfg.local || !cfg.ssh) return new LocalTransport(name);
  const { createSshTransport } = await import('./ssh.js');
  return createSshTransport(name, cfg.ssh, opts);
}
