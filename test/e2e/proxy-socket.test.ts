// The admin socket from the host's side (src/remote/proxy.sh bg_proxy_send): socat when the host has
// it and the path is plain, else the host's node. Both against a real HAProxy: same answers, and a
// runtime change made through one is seen through the other.
import { execa, type ResultPromise } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { library } from '../../src/remote/library.js';

let dir = '';
let haproxy: ResultPromise | undefined;
let lib = '';

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });

/** One library function run by dash, as a step runs it on a host. */
const sh = (fn: string, ...args: string[]) => execa('dash', ['-c', '. "$0"; "$@"', lib, fn, ...args], { reject: false });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bg-proxy-socket-'));
  lib = join(dir, 'lib.sh');
  writeFileSync(lib, library().text);
  writeFileSync(join(dir, 'live.map'), 'live be_blue\npreview be_green\n');
  const port = await freePort();
  writeFileSync(
    join(dir, 'haproxy.cfg'),
    [
      'global',
      `  stats socket ${join(dir, 'admin.sock')} mode 600 level admin`,
      'defaults',
      '  mode http',
      '  timeout connect 1s',
      '  timeout client 5s',
      '  timeout server 5s',
      'frontend live',
      `  bind 127.0.0.1:${port}`,
      `  use_backend %[str(live),map(${join(dir, 'live.map')})]`,
      'backend be_blue',
      'backend be_green',
      '',
    ].join('\n'),
  );
  haproxy = execa('haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')], { reject: false });
  for (let i = 0; !existsSync(join(dir, 'admin.sock')) && i < 50; i++) await new Promise((r) => setTimeout(r, 100));
  // The same socket under a path socat would read as address syntax (a comma and a space): node's turn.
  mkdirSync(join(dir, 'odd, dir'));
  symlinkSync(join(dir, 'admin.sock'), join(dir, 'odd, dir', 'admin.sock'));
}, 30_000);

afterAll(async () => {
  haproxy?.kill('SIGTERM');
  await haproxy;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('bg_proxy_send: socat and the node fallback against a real HAProxy', () => {
  it('both read the live backend from the runtime map', async () => {
    const plain = await sh('bg_proxy_socket_live', join(dir, 'admin.sock'), join(dir, 'live.map'));
    const odd = await sh('bg_proxy_socket_live', join(dir, 'odd, dir', 'admin.sock'), join(dir, 'live.map'));
    expect(plain.stderr).toBe('');
    expect(plain.stdout).toBe('be_blue');
    expect(odd.stderr).toBe('');
    expect(odd.stdout).toBe('be_blue');
  });

  it('a switch made through node is what socat then reads, and back', async () => {
    const set = await sh('bg_proxy_send', join(dir, 'odd, dir', 'admin.sock'), `set map ${join(dir, 'live.map')} live be_green`);
    expect(set.exitCode, set.stderr).toBe(0);
    expect((await sh('bg_proxy_socket_live', join(dir, 'admin.sock'), join(dir, 'live.map'))).stdout).toBe('be_green');
    await sh('bg_proxy_send', join(dir, 'admin.sock'), `set map ${join(dir, 'live.map')} live be_blue`);
    expect((await sh('bg_proxy_socket_live', join(dir, 'odd, dir', 'admin.sock'), join(dir, 'live.map'))).stdout).toBe('be_blue');
  });

  it('an unreachable socket is exit 1 with its path and the reason, through node too', async () => {
    const r = await sh('bg_proxy_send', join(dir, 'odd, dir', 'missing.sock'), 'show info');
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(`bg: cannot reach the admin socket ${join(dir, 'odd, dir', 'missing.sock')}: ENOENT`);
  });
});
