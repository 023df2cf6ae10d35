import type { HostConfig } from '../config/inventory-schema.js';
import { BgError, ConnectionError, ExitCode } from '../errors.js';
import { createTransport, type TransportOptions } from '../transport/index.js';
import type { Transport } from '../transport/transport.js';

/** Connect to every host before anything runs: one unreachable host means nothing changes anywhere. */
export async function connectAll(hosts: Array<{ name: string; config: HostConfig }>, opts: TransportOptions): Promise<Map<string, Transport>> {
  const results = await Promise.allSettled(
    hosts.map(async ({ name, config }) => {
      const t = await createTransport(name, config, opts);
      await t.connect();
      return t;
    }),
  );
  const connected = new Map<string, Transport>();
  const failures: string[] = [];
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') connected.set(hosts[i]!.name, r.value);
    else failures.push(r.reason instanceof ConnectionError ? r.reason.message : `cannot connect to ${hosts[i]!.name}: ${String(r.reason?.message ?? r.reason)}`);
  });
  if (failures.length) {
    await closeAll(connected);
    const head = failures.length > 1 ? `cannot connect to ${failures.length} of ${hosts.length} hosts:\n  ${failures.join('\n  ')}` : failures[0]!;
    throw new BgError(`${head}\nnothing was changed on any host`, ExitCode.unreachable);
  }
  return connected;
}

export async function closeAll(transports: Map<string, Transport>): Promise<void> {
  await Promise.allSettled([...transports.values()].map((t) => t.close()));
}
