// What both demos share (scripts/demo.ts, scripts/demo-postgres.ts): running bg as a user does,
// headings, and HAProxy from Debian.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, type BlueGreen } from '../test/harness/pm2.js';

export const repo = fileURLToPath(new URL('../..', import.meta.url));
export const bgBin = join(repo, 'bin', 'bg.js');
export const keep = process.argv.includes('--keep');
export const bold = (s: string) => (process.stdout.isTTY && !process.env.NO_COLOR ? `\x1b[1m${s}\x1b[0m` : s);
export const say = (s: string) => console.log(`\n${bold(`== ${s}`)}`);

export function bg(args: string[], cwd: string, opts: { quiet?: boolean } = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bgBin, ...args], { cwd, stdio: opts.quiet ? ['ignore', 'pipe', 'inherit'] : 'inherit' });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d));
    child.on('exit', (code) => resolve({ code: code ?? 1, out }));
  });
}

/** HAProxy from Debian, installed with apt-get as test/global-setup.ts does (as root); else how to. */
export function ensureHaproxy(): boolean {
  const have = () => existsSync('/usr/sbin/haproxy') || spawnSync('haproxy', ['-v']).status === 0;
  if (have()) return true;
  if (process.getuid?.() !== 0 || spawnSync('apt-get', ['--version']).status !== 0) {
    console.error('The demo runs HAProxy in front of the apps and it is not installed: sudo apt-get install haproxy (Debian/Ubuntu), then npm run demo again.');
    return false;
  }
  say('HAProxy is not installed: apt-get install haproxy');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', '-qq', 'haproxy'], { stdio: 'inherit', env }).status === 0;
  if (!install() && !(spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env }).status === 0 && install())) {
    console.error('apt-get install haproxy failed');
    return false;
  }
  return have();
}

/** Each color's own loopback port after the cutover: free, distinct, and not one of the public ports the apps start on. */
export async function ownPorts(d: BlueGreen): Promise<{ blue: number; green: number }> {
  const own = { blue: await freePort(), green: await freePort() };
  while (own.green === own.blue || [d.blue.port, d.green.port].includes(own.green) || [d.blue.port, d.green.port].includes(own.blue)) {
    own.blue = await freePort();
    own.green = await freePort();
  }
  return own;
}
