/**
 * Backups off the host (issue 17) through the built CLI, over a real OpenSSH sshd, against the
 * example app as BLUE and GREEN under a real pm2 with real SQLite databases. In order, on one
 * deployment:
 *   a backup run copies both verified backups to this machine (copy_to) → bg backups shows where
 *   each copy lives → the host's backups directory is deleted → a dry run says it would send the
 *   copy → bg restore --from-local sends it, restores, and bg rollback undoes it → a damaged copy,
 *   one without its checksum and a name clash on the host are refused before anything changes →
 *   the SSH transport streams a file of many chunks, and Ctrl-C mid-copy leaves nothing → the local
 *   host copies too, and a copy that cannot be written fails the run.
 * Paths on both sides carry spaces, quotes, `$(…)` and a leading dash, the local ones a newline too: they stay data.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';
import { withLibrary } from '../../src/remote/install.js';
import { downloadCopy } from '../../src/run/offhost.js';
import { createSshTransport } from '../../src/transport/ssh.js';
import { checksumTree } from '../harness/sandbox.js';
import { deployBlueGreen, inventoryDocument, type BlueGreen } from '../harness/pm2.js';
import { sshClientEnv, startSshd, type SshdHandle } from '../harness/sshd.js';

const sql = (db: string, query: string) => execFileSync('sqlite3', ['-batch', '-cmd', '.timeout 5000', db, query], { encoding: 'utf8' }).trim();
const count = (db: string) => Number(sql(db, 'SELECT count(*) FROM time_entries'));
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
// A file name part that is shell syntax, an option and a line break: it must stay a name.
const HOSTILE = `-x $(touch pwned) 'q"\n;y`;

let root = '';
let work = '';
let d: BlueGreen;
let sshd: SshdHandle;
let cliEnv: Record<string, string>;
let bkDir = '';
let copyDir = '';
let runId = '';
const run = (args: string[]) => bg(['--inventory', join(work, 'hosts.yaml'), ...args], { cwd: work, env: cliEnv, timeoutMs: 120_000 });

async function post(description: string): Promise<void> {
  const res = await fetch(d.blue.entries, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ description, minutes: 5 }) });
  expect(res.status).toBe(201);
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'bgoh-'));
  work = join(root, 'work');
  mkdirSync(work);
  [sshd, d] = await Promise.all([startSshd({ user: 'root' }), deployBlueGreen({ root, seed: { blue: 12, green: 3 } })]);
  // No newline on the host side: a rollback's record of the backup it restores is one line
  // (JOURNAL/runs/ID/steps/N/backup), so bg cannot yet undo a restore from such a directory.
  bkDir = join(root, `bk ${HOSTILE.replace('\n', ' ')}`);
  // Relative: from the directory bg runs in.
  const copyTo = `${HOSTILE}/copies`;
  copyDir = join(work, copyTo, 'prod');
  const host = d.inventoryYaml('prod', {
    ssh: { host: '127.0.0.1', port: sshd.port, user: sshd.user, key: sshd.clientKeyPath },
    path: [d.binDir],
    environment: { PM2_HOME: d.pm2Home },
    journal: join(root, 'journal'),
    backups: { dir: bkDir, keep: 20, copy_to: copyTo },
  });
  writeFileSync(join(work, 'hosts.yaml'), inventoryDocument(host));
  cliEnv = sshClientEnv(sshd.knownHostsPath);
}, 180_000);

afterAll(async () => {
  await d?.stop();
  await sshd?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
}, 60_000);

describe('backups off the host, over SSH, against real pm2 apps and SQLite databases', () => {
  it('a backup run copies each verified backup to this machine: same bytes, sha256 recorded beside it; bg backups shows both places', async () => {
    const r = await run(['run', 'backup', '--host', 'prod', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    runId = (JSON.parse(r.stdout.split('\n')[0]!) as { runId: string }).runId;
    const copies = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; phase?: string; stdout?: string }).filter((e) => e.type === 'command' && e.phase === 'copy');
    expect(copies).toHaveLength(2);
    for (const env of ['blue', 'green']) {
      const local = join(copyDir, `${env}-${runId}.db`);
      const remote = join(bkDir, `${env}-${runId}.db`);
      expect(readFileSync(local).equals(readFileSync(remote))).toBe(true);
      expect(readFileSync(`${local}.sha256`, 'utf8')).toBe(`${sha(remote)}  ${env}-${runId}.db\n`);
      expect(copies.some((c) => c.stdout!.includes(`to ${local} (sha256 ${sha(remote)})`))).toBe(true);
    }
    expect(readdirSync(copyDir).sort()).toEqual([`blue-${runId}.db`, `blue-${runId}.db.sha256`, `green-${runId}.db`, `green-${runId}.db.sha256`]);

    const list = await run(['backups', '--host', 'prod']);
    expect(list.exitCode, list.stderr).toBe(0);
    expect(list.stdout).toContain('ON HOST  COPY (--from-local)');
    expect(list.stdout).toMatch(new RegExp(`blue +${runId.replace(/\./g, '\\.')} .* ok \\(\\S+\\) +yes +\\S`));
    const j = JSON.parse((await run(['backups', '--host', 'prod', '--json'])).stdout) as Array<{ env: string; path: string | null; copies: Array<{ path: string; checksum: boolean }> }>;
    expect(j.map((e) => [e.env, e.path, e.copies.map((c) => [c.path, c.checksum])]).sort()).toEqual([
      ['blue', join(bkDir, `blue-${runId}.db`), [[join(copyDir, `blue-${runId}.db`), true]]],
      ['green', join(bkDir, `green-${runId}.db`), [[join(copyDir, `green-${runId}.db`), true]]],
    ]);
  });

  it('restored from the copy onto a host whose backups directory was deleted: sent, verified, journaled; bg rollback undoes it', async () => {
    await post('after the backup 1');
    await post('after the backup 2');
    expect(count(d.blue.db)).toBe(14);
    rmSync(bkDir, { recursive: true, force: true });
    const local = join(copyDir, `blue-${runId}.db`);

    const only = JSON.parse((await run(['backups', '--host', 'prod', '--json'])).stdout) as Array<{ env: string; path: string | null; copies: unknown[] }>;
    expect(only.map((e) => [e.env, e.path, e.copies.length]).sort()).toEqual([['blue', null, 1], ['green', null, 1]]);
    expect((await run(['backups', '--host', 'prod'])).stdout).toMatch(/prod: 0 backups in [^]*no \(copy only\)/);

    const dry = await run(['restore', '--host', 'prod', '--env', 'blue', `--from-local=${local}`, '--dry-run']);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stderr).toContain('(dry run: not sent)');
    expect(existsSync(bkDir)).toBe(false);

    const pid = await d.pid('blue');
    const r = await run(['restore', '--host', 'prod', '--env', 'blue', `--from-local=${local}`, '--accept-data-loss']);
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(r.stderr).toMatch(/sent .* checked on the host/);
    expect(count(d.blue.db)).toBe(12);
    expect((await d.waitHealthy('blue', { timeoutMs: 15_000 })).pid).not.toBe(pid);
    // The copy is in the backups dir again (with its counts), beside the restore run's own backup.
    expect(sha(join(bkDir, `blue-${runId}.db`))).toBe(sha(local));
    expect(readFileSync(join(bkDir, `blue-${runId}.db.counts`), 'utf8')).toMatch(/^time_entries\|12$/m);
    expect(readdirSync(bkDir).filter((f) => f.endsWith('.db'))).toHaveLength(2);
    const hist = await run(['history', '--host', 'prod']);
    expect(hist.stdout).toMatch(/restore +\S+ +\S+ +done/);

    const back = await run(['rollback', '--host', 'prod', '--accept-data-loss']);
    expect(back.exitCode, back.stderr + back.stdout).toBe(0);
    expect(count(d.blue.db)).toBe(14);
    await d.waitHealthy('blue', { timeoutMs: 15_000 });
  });

  it('a damaged copy, one without its checksum, and a different file of that name on the host are refused before anything changes', async () => {
    const elsewhere = join(root, `moved ${HOSTILE}`);
    mkdirSync(elsewhere);
    const bad = join(elsewhere, `blue-${runId}.db`);
    copyFileSync(join(copyDir, `blue-${runId}.db`), bad);
    copyFileSync(join(copyDir, `blue-${runId}.db.sha256`), `${bad}.sha256`);
    const bytes = readFileSync(bad);
    bytes[200] ^= 0xff;
    writeFileSync(bad, bytes);
    const hostBefore = checksumTree(bkDir);
    const historyBefore = (await run(['history', '--host', 'prod'])).stdout;
    const rows = count(d.blue.db);

    const damaged = await run(['restore', '--host', 'prod', '--env', 'blue', `--from-local=${bad}`, '--accept-data-loss']);
    expect(damaged.exitCode).toBe(2);
    expect(damaged.stderr).toMatch(/its sha256 is [0-9a-f]{64}, not [0-9a-f]{64} as recorded .* the copy is damaged; nothing was sent or changed/);

    rmSync(`${bad}.sha256`);
    const unrecorded = await run(['restore', '--host', 'prod', '--env', 'blue', `--from-local=${bad}`]);
    expect(unrecorded.exitCode).toBe(2);
    expect(unrecorded.stderr).toContain('no checksum beside it');

    const misnamed = await run(['restore', '--host', 'prod', '--env', 'green', `--from-local=${join(copyDir, `blue-${runId}.db`)}`]);
    expect(misnamed.exitCode).toBe(2);
    expect(misnamed.stderr).toContain('not a copy of env green');

    // A good copy whose name is taken on the host by another file: never replaced.
    const green = join(copyDir, `green-${runId}.db`);
    writeFileSync(join(bkDir, `green-${runId}.db`), 'someone else\'s file');
    const clash = await run(['restore', '--host', 'prod', '--env', 'green', `--from-local=${green}`, '--accept-data-loss']);
    expect(clash.exitCode).toBe(2);
    expect(clash.stderr).toContain('refusing to replace it; nothing was changed');
    expect(readFileSync(join(bkDir, `green-${runId}.db`), 'utf8')).toBe('someone else\'s file');
    rmSync(join(bkDir, `green-${runId}.db`));

    expect(checksumTree(bkDir)).toBe(hostBefore);
    expect(count(d.blue.db)).toBe(rows);
    expect((await run(['history', '--host', 'prod'])).stdout).toBe(historyBefore);
    expect(existsSync(join(work, 'pwned')) || existsSync(join(root, 'pwned'))).toBe(false);
  });

  it('over the SSH transport a file of many chunks streams whole; Ctrl-C mid-copy leaves no file behind', async () => {
    const t = withLibrary(createSshTransport('prod', { host: '127.0.0.1', port: sshd.port, user: sshd.user, key: sshd.clientKeyPath }, { knownHostsPath: sshd.knownHostsPath }), join(root, 'journal'));
    try {
      const big = join(root, 'big.db');
      execFileSync('sqlite3', [big, 'CREATE TABLE t(b); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300) INSERT INTO t SELECT randomblob(60000) FROM n;']);
      const local = join(root, 'streamed', 'big.db');
      const { copy } = await downloadCopy(t, { cmd: `bg_offhost_send '${big}'`, remote: big, local, label: 'copy' });
      expect(copy.bytes).toBeGreaterThan(18_000_000);
      expect(sha(local)).toBe(sha(big));

      // Slowed down on the host so that Ctrl-C lands mid-stream.
      const ac = new AbortController();
      const slow = `bg_offhost_send '${big}' | while IFS= read -r l; do printf '%s\n' "$l"; sleep 0.01; done`;
      setTimeout(() => ac.abort(), 300);
      const other = join(root, 'streamed', 'cancelled.db');
      await expect(downloadCopy(t, { cmd: slow, remote: big, local: other, label: 'copy' }, { signal: ac.signal })).rejects.toThrow(/exited 130/);
      expect(readdirSync(join(root, 'streamed')).sort()).toEqual(['big.db', 'big.db.sha256']);
    } finally {
      await t.close();
    }
  });

  it('the local host copies the same way; a copy that cannot be written fails the run (exit 1) naming it', async () => {
    const local = (copyTo: string) => inventoryDocument(d.inventoryYaml('dev', { environment: { PM2_HOME: d.pm2Home }, path: [d.binDir], journal: join(root, 'journal-dev'), backups: { dir: join(root, 'bk-dev'), keep: 20, copy_to: copyTo } }));
    writeFileSync(join(work, 'local.yaml'), local(join(root, 'dev copies')));
    const ok = await bg(['--inventory', join(work, 'local.yaml'), 'run', 'backup', '--host', 'dev'], { cwd: work, env: cliEnv });
    expect(ok.exitCode, ok.stderr).toBe(0);
    const id = /\(run (\S+)\)/.exec(ok.stdout)![1]!;
    expect(sha(join(root, 'dev copies', 'dev', `blue-${id}.db`))).toBe(sha(join(root, 'bk-dev', `blue-${id}.db`)));

    // A file where the copy's directory must go.
    writeFileSync(join(root, 'not-a-dir'), '');
    writeFileSync(join(work, 'local.yaml'), local(join(root, 'not-a-dir')));
    const failed = await bg(['--inventory', join(work, 'local.yaml'), 'run', 'backup', '--host', 'dev'], { cwd: work, env: cliEnv });
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).toMatch(/failed on dev: copying \S+blue-\S+\.db to \S+not-a-dir\/dev\/blue-\S+\.db on this machine: cannot create/);
  });
});
