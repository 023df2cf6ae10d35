// A TCP proxy that simulates a WAN link for SSH benchmarks: every chunk is held RTT/2 before it is
// passed on, in each direction, so every SSH round trip costs the RTT (these kernels have no
// `tc netem`, see NOTES.md). Order is kept: Node fires timers of equal delay in creation order.
import net from 'node:net';

export interface WanProxy {
  /** Port on 127.0.0.1 that forwards to the target. */
  port: number;
  rttMs: number;
  stop(): Promise<void>;
}

/** Listen on a free port of 127.0.0.1 and forward each connection to `target`, delaying it by rttMs/2 each way. */
export async function startWanProxy(target: { host: string; port: number }, rttMs: number): Promise<WanProxy> {
  const oneWay = rttMs / 2;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    // noDelay on both legs: Nagle would add its own ~40 ms stalls on top of the simulated ones.
    client.setNoDelay(true);
    const upstream = net.connect({ host: target.host, port: target.port, noDelay: true });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    pipeDelayed(client, upstream, oneWay);
    pipeDelayed(upstream, client, oneWay);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    rttMs,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Forward `from` to `to`, each chunk (and the end of the stream) after `delayMs`. */
function pipeDelayed(from: net.Socket, to: net.Socket, delayMs: number): void {
  const later = (fn: () => void) => (delayMs > 0 ? setTimeout(fn, delayMs) : setImmediate(fn));
  from.on('data', (chunk) => later(() => to.writable && to.write(chunk)));
  from.on('end', () => later(() => to.end()));
  // A reset (not a clean end) is passed on as one too, so that neither side waits forever.
  from.on('close', (hadError) => hadError && later(() => to.destroy()));
}
