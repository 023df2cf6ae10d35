import type { HostConfig } from '../config/inventory-schema.js';
import { BgError, ConnectionError, ExitCode, UsageError } from '../errors.js';
import { createTransport, type TransportOptions } from '../transport/index.js';
import type { Transport } from '../transport/transport.js';
import { holdHostSession } from './signals.js';
import { withLibrary } from '../remote/install.js';

const DEFAULT_CONNECT_TIMEOUT_S = 15;
// ssh2's own handshake timer covers the handshake; this outer bound also covers what it does not
// (a TCP connect or jump-host channel that never answers), a little later so ssh2's message wins.
const CONNECT_SLACK_S = 5;

const sessions = new WeakMap<Map<string, Transport>, () => void>();

/** Connect to every host before anything runs: one unreachable host means nothing changes anywhere. */
export async function connectAll(hosts: Array<{ name: string; config: HostConfig }>, opts: TransportOptions): Promise<Map<string, Transport>> {
  checkCommandTimeoutEnv();
  // From here on a signal stops the commands bg has running instead of orphaning them.
  const release = holdHostSession();
  const results = await Promise.allSettled(hosts.map(({ name, config }) => connectOne(name, config, opts)));
  const connected = new Map<string, Transport>();
  sessions.set(connected, release);
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

/** One host, within its connect bound (ssh.connect_timeout, default 15 s): never a wait without end. */
async function connectOne(name: string, config: HostConfig, opts: TransportOptions): Promise<Transport> {
  const t = await createTransport(name, config, opts);
  const secs = (config.ssh?.connect_timeout ?? DEFAULT_CONNECT_TIMEOUT_S) + CONNECT_SLACK_S;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ConnectionError(name, `did not connect within ${secs} s (bound: ssh.connect_timeout + ${CONNECT_SLACK_S} s)`)), secs * 1000);
  });
  try {
    await Promise.race([t.connect(), timedOut]);
    // Every command gets bg's remote library (src/remote), installed on the host once per hash.
    return withLibrary(t, config.journal);
  } catch (e) {
    await t.close().catch(() => undefined);
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/** BG_COMMAND_TIMEOUT (seconds, the default bound of every remote command) must be a number. */
function checkCommandTimeoutEnv(): void {
  const v = process.env.BG_COMMAND_TIMEOUT;
  if (v === undefined || v === '') return;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n * 1000 > 2_147_483_647) throw new UsageError(`BG_COMMAND_TIMEOUT must be a number of seconds between 1 and 2147483, not ${JSON.stringify(v)}`);
}

export async function closeAll(transports: Map<string, Transport>): Promise<void> {
  await Promise.allSettled([...transports.values()].map((t) => t.close()));
  sessions.get(transports)?.();
  sessions.delete(transports);
}
