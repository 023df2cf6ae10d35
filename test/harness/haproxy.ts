// The HAProxy that e2e tests and benchmarks put in front of BLUE and GREEN: Debian's haproxy, run
// by the deployment's own pm2 as `bg-proxy` (no chroot, free ports, files under one directory).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BlueGreen } from './pm2.js';

/** The inventory `proxy:` block for it, its config, map and admin socket under DIR; `extra` overrides or adds fields. */
export function haproxyProxy(dir: string, livePort: number, previewPort: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    kind: 'haproxy',
    live_port: livePort,
    preview_port: previewPort,
    bind: '127.0.0.1',
    config: join(dir, 'haproxy.cfg'),
    map: join(dir, 'live.map'),
    socket: join(dir, 'admin.sock'),
    run: { kind: 'pm2', app: 'bg-proxy' },
    color_header: 'X-App-Color',
    ...extra,
  };
}

/** Start it under the deployment's pm2 on the config `bg run proxy` wrote in DIR; wait (up to 5 s) for its admin socket. */
export async function startHaproxy(d: BlueGreen, dir: string): Promise<void> {
  await d.pm2(['start', '/usr/sbin/haproxy', '--name', 'bg-proxy', '--interpreter', 'none', '--', '-W', '-db', '-f', join(dir, 'haproxy.cfg')]);
  for (let i = 0; !existsSync(join(dir, 'admin.sock')) && i < 50; i++) await new Promise((r) => setTimeout(r, 100));
}
