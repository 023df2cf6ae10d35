import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';

/**
 * A PM2_HOME that looks like a running daemon's to bg's pm2 probes (a pm2.pid naming a live
 * process, an rpc.sock socket), for tests whose `pm2` is the stand-in in test/fixtures/phases/
 * fake-pm2: bg never runs `pm2 jlist` without a daemon (it would start one). Returns the path.
 */
export function fakePm2Daemon(dir: string): string {
  const home = join(dir, 'pm2-home');
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, 'pm2.pid'), String(process.pid));
  // Only its existence as a socket matters; the server lives as long as the test process.
  net.createServer().listen(join(home, 'rpc.sock')).unref();
  return home;
}
