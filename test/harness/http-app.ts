import { createServer, type Server } from 'node:http';
import { AddressInfo } from 'node:net';

/** A real HTTP server for health checks; it can start late and answer with any status. */
export interface HealthServer {
  port: number;
  url: string;
  /** Start listening (after `delayMs`). */
  start(delayMs?: number): Promise<void>;
  setStatus(code: number, body?: unknown): void;
  stop(): Promise<void>;
}

export async function healthServer(): Promise<HealthServer> {
  // Reserve a free port now, so the inventory can name it before the server is up.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  let status = 200;
  let body: unknown = { status: 'ok' };
  let server: Server | undefined;
  return {
    port,
    url: `http://127.0.0.1:${port}/api/health`,
    start: (delayMs = 0) =>
      new Promise<void>((resolve) =>
        setTimeout(() => {
          server = createServer((_req, res) => {
            res.writeHead(status, { 'content-type': 'application/json' });
            res.end(JSON.stringify(body));
          });
          server.listen(port, '127.0.0.1', () => resolve());
        }, delayMs),
      ),
    setStatus(code, b) {
      status = code;
      if (b !== undefined) body = b;
    },
    stop: () => new Promise<void>((r) => (server ? server.close(() => r()) : r())),
  };
}
