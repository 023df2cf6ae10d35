// Issue 17: download speed of a backup copy over SSH (backup's copy_to), and the way back
// (bg restore --from-local). bg's copy is a command streamed through exec (bg_offhost_send: the
// host's sha256sum and size on a header line, then the bytes; hashed and fsynced here, renamed).
// Peers on the same connection and file: ssh2's SFTP fastGet (what node-ssh's getFile does) and
// OpenSSH's `scp`. On loopback, and through the WAN proxy at 50 ms RTT.
import { execa } from 'execa';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeSSH } from 'node-ssh';
import { afterAll, beforeAll, it } from 'vitest';
import { sshClientEnv, startSshd, type SshdHandle } from '../test/harness/sshd.js';
import { createSshTransport } from '../src/transport/ssh.js';
import { withLibrary } from '../src/remote/install.js';
import { checkLocalCopy, downloadCopy, uploadCopy } from '../src/run/offhost.js';
import type { Transport } from '../src/transport/transport.js';
import { median, report } from './stats.js';
import { startWanProxy, type WanProxy } from './wan-proxy.js';

const MB = 1024 * 1024;
const SIZE_MB = Number(process.env.BG_BENCH_OFFHOST_MB ?? 256);
const RUNS = 3;

let root = '';
let sshd: SshdHandle;
let remote = '';
let proxy: WanProxy | undefined;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'bg-bench-offhost-'));
  chmodSync(root, 0o777);
  // SFTP is a subsystem the host must offer (the test sshd does not by default): on for the peer.
  sshd = await startSshd({ extraConfig: ['Subsystem sftp /usr/lib/openssh/sftp-server'] });
  const hostDir = join(root, 'host');
  mkdirSync(hostDir, { mode: 0o777 });
  chmodSync(hostDir, 0o777);
  remote = join(hostDir, 'blue-20261127T120000Z-abcd.db');
  // A database of SIZE_MB of random blobs (incompressible, as ssh2 does not compress anyway).
  await execa('sqlite3', [remote, `CREATE TABLE t(b); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${SIZE_MB * 16}) INSERT INTO t SELECT randomblob(65000) FROM n;`]);
  chmodSync(remote, 0o644);
}, 600_000);

afterAll(async () => {
  await proxy?.stop();
  await sshd?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

const transportTo = (port: number): Transport =>
  withLibrary(createSshTransport('bench', { host: '127.0.0.1', port, user: sshd.user, key: sshd.clientKeyPath }, { knownHostsPath: knownHosts(port) }), join(root, 'journal'));

function knownHosts(port: number): string {
  // The proxy's port must be known too: the same host key, under [127.0.0.1]:PORT.
  const file = join(root, `known_hosts_${port}`);
  const line = sshd.knownHostsLine.replace(/^\[127\.0\.0\.1\]:\d+/, `[127.0.0.1]:${port}`);
  writeFileSync(file, `${line}\n`);
  return file;
}

async function measure(port: number, label: string, runs: number): Promise<Record<string, number>> {
  const bytes = statSync(remote).size;
  const mbps = (ms: number[]) => +(bytes / MB / (median(ms) / 1000)).toFixed(1);

  const t = transportTo(port);
  await t.connect();
  await t.exec('true'); // the library installed once, as on any host bg has run on
  const bgMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const local = join(root, 'local', `bg-${i}.db`);
    const t0 = performance.now();
    await downloadCopy(t, { cmd: `bg_offhost_send '${remote}'`, remote, local, label: 'copy' });
    bgMs.push(performance.now() - t0);
    rmSync(local);
  }
  // The way back: the copy sent to a host's backups dir (base64 chunks, sha256sum on the host).
  const back = join(root, 'local', 'blue-20261127T120000Z-abcd.db');
  await downloadCopy(t, { cmd: `bg_offhost_send '${remote}'`, remote, local: back, label: 'copy' });
  const copy = checkLocalCopy(back);
  if ('problem' in copy) throw new Error(copy.problem);
  const upMs: number[] = [];
  for (let i = 0; i < Math.min(runs, 2); i++) {
    const dir = join(root, 'host', `up-${label}-${i}`);
    const t0 = performance.now();
    const r = await uploadCopy(t, copy, dir, join(dir, copy.name));
    upMs.push(performance.now() - t0);
    if (r.state !== 'uploaded') throw new Error(r.state);
    await t.exec(`rm -rf '${dir}'`);
  }
  rmSync(back);
  rmSync(`${back}.sha256`);
  await t.close();

  const sftpMs: number[] = [];
  const ssh = new NodeSSH();
  await ssh.connect({ host: '127.0.0.1', port, username: sshd.user, privateKey: sshd.clientKeyText });
  for (let i = 0; i < runs; i++) {
    const local = join(root, 'local', `sftp-${i}.db`);
    const t0 = performance.now();
    await ssh.getFile(local, remote);
    sftpMs.push(performance.now() - t0);
    rmSync(local);
  }
  ssh.dispose();

  const scpMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const local = join(root, 'local', `scp-${i}.db`);
    const t0 = performance.now();
    await execa('scp', ['-q', '-i', sshd.clientKeyPath, '-P', String(port), '-o', `UserKnownHostsFile=${knownHosts(port)}`, '-o', 'BatchMode=yes', `${sshd.user}@127.0.0.1:${remote}`, local], { env: { ...process.env, ...sshClientEnv(knownHosts(port)) } });
    scpMs.push(performance.now() - t0);
    rmSync(local);
  }
  return {
    [`bg copy (exec stream + sha256 both sides + fsync), MB/s`]: mbps(bgMs),
    [`bg copy, seconds`]: +(median(bgMs) / 1000).toFixed(2),
    [`ssh2 SFTP fastGet (node-ssh getFile, no checksum), MB/s`]: mbps(sftpMs),
    [`OpenSSH scp (no checksum), MB/s`]: mbps(scpMs),
    [`bg upload for restore --from-local (base64 chunks, sha256sum on the host), MB/s`]: mbps(upMs),
  };
}

it(`download speed of a ${SIZE_MB} MB backup copy over SSH`, async () => {
  mkdirSync(join(root, 'local'), { recursive: true });
  const loopback = await measure(sshd.port, 'loopback', RUNS);
  proxy = await startWanProxy({ host: '127.0.0.1', port: sshd.port }, 50);
  const wan = await measure(proxy.port, 'wan', 1);
  report('offhost', { sizeMB: +(statSync(remote).size / MB).toFixed(1), user: sshd.user, loopback, 'wan 50 ms RTT (1 run each)': wan });
});
