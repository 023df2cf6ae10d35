// Backups off the host (issue 17): the backup step's copy (exact plan), the stream reader, the
// copy through a real sh (LocalTransport with the remote library), local copies checked against
// their .sha256, and the host side of an upload (src/remote/offhost.sh) against real files.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { localCopyPath } from '../../src/plan/backup-paths.js';
import { checkLocalCopy, copyAfterStep, downloadCopy, localPath, SendReader, uploadCopy } from '../../src/run/offhost.js';
import { StepFailure } from '../../src/run/step-error.js';
import { LocalTransport } from '../../src/transport/local.js';
import { withLibrary } from '../../src/remote/install.js';
import { findLocalCopies } from '../../src/cli/local-copies.js';
import { withCopies, type BackupEntry } from '../../src/cli/commands/backups.js';
import type { PlanStep } from '../../src/plan/types.js';
import { oneStep, plan, RUN, sh } from './actions-helpers.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'bg-offhost-'));
  dirs.push(d);
  return d;
};
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
// Hostile names: spaces, quotes, $(…), a leading dash, a newline. They must stay data.
const HOSTILE = `-x 'q"$(touch pwned)\n;y`;

const inventory = (backups: string) => `hosts:
  prod:
    local: true
    envs:
      blue: { dir: /srv/blue, db: app.db }
    backups: ${backups}
    journal: /srv/journal
`;

describe('backup: the copy to this machine (plan)', () => {
  it("copy_to in the inventory: every backup step copies its verified backup to COPY_TO/HOST/ENV-RUNID.db", () => {
    const p = plan(oneStep('backup', 'env: blue'), { inventory: inventory('{ dir: /srv/bk, copy_to: ./copies }') });
    expect(p.steps[0]!.download).toEqual({
      cmd: "bg_offhost_send /srv/bk/blue-20261121T120000Z-abcd.db",
      remote: '/srv/bk/blue-20261121T120000Z-abcd.db',
      local: './copies/prod/blue-20261121T120000Z-abcd.db',
      label: 'copy /srv/bk/blue-20261121T120000Z-abcd.db to ./copies/prod/blue-20261121T120000Z-abcd.db on this machine (sha256 checked)',
    });
  });

  it('with.copy_to overrides it (templated, quoted on the host), false turns it off; none: no copy', () => {
    const p = plan(oneStep('backup', `env: blue\nwith: { copy_to: "/tmp/c c/{{ run.id }}/" }`), { inventory: inventory("{ dir: \"/srv/b k/$(x)\", copy_to: ./copies }") });
    expect(p.steps[0]!.download!.local).toBe(`/tmp/c c/${RUN}/prod/blue-${RUN}.db`);
    expect(p.steps[0]!.download!.cmd).toBe(`bg_offhost_send '/srv/b k/$(x)/blue-${RUN}.db'`);
    expect(plan(oneStep('backup', 'env: blue\nwith: { copy_to: false }'), { inventory: inventory('{ dir: /srv/bk, copy_to: ./copies }') }).steps[0]!.download).toBeUndefined();
    expect(plan(oneStep('backup', 'env: blue')).steps[0]!.download).toBeUndefined();
  });

  it("the host's environment: prefix comes first, as for every command", () => {
    const inv = inventory('{ dir: /srv/bk, copy_to: c }') + '    environment: { PM2_HOME: /p }\n';
    expect(plan(oneStep('backup', 'env: blue'), { inventory: inv }).steps[0]!.download!.cmd).toBe(`export PM2_HOME=/p; bg_offhost_send /srv/bk/blue-${RUN}.db`);
  });

  it('localCopyPath: one directory per host; trailing slashes dropped', () => {
    expect(localCopyPath('copies//', 'prod', 'blue', RUN)).toBe(`copies/prod/blue-${RUN}.db`);
    expect(localCopyPath('~/bk', 'p', 'g', RUN)).toBe(`~/bk/p/g-${RUN}.db`);
  });

  it('localPath: ~ is the home directory, relative paths start at the current directory', () => {
    expect(localPath('~/x', '/cwd', '/home/u')).toBe('/home/u/x');
    expect(localPath('a/b', '/cwd', '/home/u')).toBe('/cwd/a/b');
    expect(localPath('/abs', '/cwd', '/home/u')).toBe('/abs');
    expect(localPath('~x', '/cwd', '/home/u')).toBe('/cwd/~x');
  });
});

describe('SendReader: shell noise, the header line, then the bytes', () => {
  const read = (...chunks: Array<string | Buffer>) => {
    const got: Buffer[] = [];
    const r = new SendReader((c) => got.push(Buffer.from(c)));
    for (const c of chunks) r.push(Buffer.isBuffer(c) ? c : Buffer.from(c, 'latin1'));
    return { header: r.header, problem: r.problem, data: Buffer.concat(got).toString('latin1') };
  };
  const h = 'a'.repeat(64);

  it('header first; the data may look like a header (it is never read as one)', () => {
    expect(read(`@@bg-offhost ${h} 5\n@@bg-offhost x\n`)).toEqual({ header: { sha256: h, size: 5 }, problem: undefined, data: '@@bg-offhost x\n' });
  });

  it('noise before it is skipped; a header only counts at the start of a line; chunks split anywhere', () => {
    const all = `pyenv: hello @@bg-offhost ${'b'.repeat(64)} 1\n@@bg-offhost ${h} 3\nDATA\x00\xff`;
    for (let i = 0; i < all.length; i += 7) {
      const chunks = [];
      for (let j = 0; j < all.length; j += 1 + ((i + j) % 11)) chunks.push(all.slice(j, j + 1 + ((i + j) % 11)));
      const r = read(...chunks);
      expect(r.header).toEqual({ sha256: h, size: 3 });
      expect(r.data).toBe('DATA\x00\xff');
    }
  });

  it('a malformed header or endless noise is a problem, not an exception', () => {
    expect(read('@@bg-offhost zz 3\nabc').problem).toMatch(/malformed/);
    expect(read('x'.repeat(70 * 1024)).problem).toMatch(/without the copy's header/);
  });
});

describe('the copy through a real sh (LocalTransport, the remote library installed)', () => {
  const setup = () => {
    const root = tmp();
    const t = withLibrary(new LocalTransport('dev'), join(root, 'journal'));
    const hostDir = join(root, 'host bk');
    mkdirSync(hostDir);
    const remote = join(hostDir, `blue-${RUN}.db`);
    execFileSync('sqlite3', [remote, "CREATE TABLE t(x); INSERT INTO t VALUES (randomblob(300000));"]);
    return { root, t, remote };
  };
  const step = (cmd: string, remote: string, local: string): PlanStep => ({ index: 1, name: 'Back up', action: 'backup', mutates: false, capture: [], run: [], verify: [], undo: [], download: { cmd, remote, local, label: 'copy' } });

  it('the bytes arrive whole into a hostile directory name, atomically, with FILE.sha256 beside them; the command is reported', async () => {
    const { root, t, remote } = setup();
    const local = join(root, HOSTILE, 'prod', `blue-${RUN}.db`);
    const seen: Array<{ phase: string; stdout: string }> = [];
    const done = await copyAfterStep(step(`bg_offhost_send '${remote}'`, remote, local), t, { command: (e) => seen.push({ phase: e.phase, stdout: e.result.stdout }) });
    const bytes = readFileSync(remote);
    expect(readFileSync(local).equals(bytes)).toBe(true);
    expect(done).toEqual({ local, bytes: bytes.length, sha256: sha(bytes) });
    expect(readFileSync(`${local}.sha256`, 'utf8')).toBe(`${sha(bytes)}  blue-${RUN}.db\n`);
    expect(execFileSync('sha256sum', ['-c', `blue-${RUN}.db.sha256`], { cwd: join(root, HOSTILE, 'prod'), encoding: 'utf8' })).toContain(': OK');
    expect(statSync(local).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(root, HOSTILE, 'prod')).sort()).toEqual([`blue-${RUN}.db`, `blue-${RUN}.db.sha256`]);
    expect(seen).toEqual([{ phase: 'copy', stdout: `copied ${bytes.length} bytes to ${local} (sha256 ${sha(bytes)})` }]);
    expect(existsSync(join(process.cwd(), 'pwned'))).toBe(false);
  });

  it('a login shell printing first (noise on stdout) changes nothing', async () => {
    const { root, t, remote } = setup();
    const local = join(root, 'c', 'x.db');
    await downloadCopy(t, { cmd: `echo 'Welcome!'; printf 'no newline'; bg_offhost_send '${remote}'`, remote, local, label: 'copy' });
    expect(readFileSync(local).equals(readFileSync(remote))).toBe(true);
  });

  it('bytes that do not match the host sha256 are refused: nothing left at the path, no temp file', async () => {
    const { root, t, remote } = setup();
    const local = join(root, 'c', 'x.db');
    // A header that lies about the content (as a corrupted transfer would look).
    const lying = `printf '@@bg-offhost %s 4\\n' ${'0'.repeat(64)}; printf abcd`;
    await expect(downloadCopy(t, { cmd: lying, remote, local, label: 'copy' })).rejects.toThrow(/arrived with sha256 [0-9a-f]{64}, the host's sha256sum says 0{64}/);
    const short = `printf '@@bg-offhost %s 9\\n' ${sha('abcd')}; printf abcd`;
    await expect(downloadCopy(t, { cmd: short, remote, local, label: 'copy' })).rejects.toThrow(/received 4 bytes of 9/);
    await expect(downloadCopy(t, { cmd: 'echo hi', remote, local, label: 'copy' })).rejects.toThrow(/no copy header/);
    expect(readdirSync(join(root, 'c'))).toEqual([]);
  });

  it('a backup that is not there: the step fails with the command, its exit status and stderr', async () => {
    const { root, t } = setup();
    const missing = join(root, 'nope.db');
    const e = await copyAfterStep(step(`bg_offhost_send '${missing}'`, missing, join(root, 'c', 'x.db')), t).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(StepFailure);
    expect((e as Error).message).toMatch(/"Back up" failed on dev: copy command exited 3/);
    expect((e as Error).message).toContain(`bg: no backup file ${missing}`);
    expect(readdirSync(join(root, 'c'))).toEqual([]);
  });
});

describe('local copies: checked against FILE.sha256; uploaded, never over another file', () => {
  const copy = () => {
    const dir = join(tmp(), HOSTILE);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `blue-${RUN}.db`);
    execFileSync('sqlite3', [file, 'CREATE TABLE t(x); INSERT INTO t VALUES (1),(2),(3);']);
    writeFileSync(`${file}.sha256`, `${sha(readFileSync(file))}  blue-${RUN}.db\n`);
    return file;
  };

  it('a good copy passes; damaged, unrecorded, misnamed or non-SQLite ones are refused with why', () => {
    const file = copy();
    expect(checkLocalCopy(file)).toEqual({ path: file, name: `blue-${RUN}.db`, sha256: sha(readFileSync(file)), size: statSync(file).size });
    const bytes = readFileSync(file);
    bytes[bytes.length - 1] ^= 1;
    writeFileSync(file, bytes);
    expect(checkLocalCopy(file)).toEqual({ problem: expect.stringMatching(/the copy is damaged/) });
    writeFileSync(`${file}.sha256`, `${sha(bytes)}  other.db\n`);
    expect(checkLocalCopy(file)).toEqual({ problem: expect.stringMatching(/does not hold the sha256/) });
    rmSync(`${file}.sha256`);
    expect(checkLocalCopy(file)).toEqual({ problem: expect.stringMatching(/no checksum beside it/) });
    writeFileSync(file, 'not sqlite');
    writeFileSync(`${file}.sha256`, `${sha('not sqlite')}  blue-${RUN}.db\n`);
    expect(checkLocalCopy(file)).toEqual({ problem: 'not an SQLite database' });
    expect(checkLocalCopy(`${file}.missing`)).toEqual({ problem: 'no such file' });
  });

  it('upload: sent in chunks to a hostile backups dir, checked, linked in with .counts; again: present; another file: different', async () => {
    const file = copy();
    const c = checkLocalCopy(file);
    if ('problem' in c) throw new Error(c.problem);
    const root = tmp();
    const t = withLibrary(new LocalTransport('dev'), join(root, 'journal'));
    const dir = join(root, HOSTILE);
    const dst = join(dir, c.name);
    expect((await uploadCopy(t, c, dir, dst)).state).toBe('uploaded');
    expect(readFileSync(dst).equals(readFileSync(file))).toBe(true);
    expect(readFileSync(`${dst}.counts`, 'utf8')).toBe('t|3\n');
    expect(readdirSync(dir).sort()).toEqual([c.name, `${c.name}.counts`]);
    expect((await uploadCopy(t, c, dir, dst)).state).toBe('present');
    writeFileSync(dst, 'another file');
    expect((await uploadCopy(t, c, dir, dst)).state).toBe('different');
    expect(readFileSync(dst, 'utf8')).toBe('another file');
  });

  it('bg_offhost_commit: a part with another sha256 is removed; an existing destination is never replaced', () => {
    const d = join(tmp(), HOSTILE);
    mkdirSync(d);
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    writeFileSync(join(d, 'p'), 'abc');
    const bad = sh(`bg_offhost_commit ${q(join(d, 'p'))} ${q(join(d, 'dst.db'))} ${'0'.repeat(64)}`);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/arrived with sha256/);
    expect(readdirSync(d)).toEqual([]);
    writeFileSync(join(d, 'p'), 'abc');
    writeFileSync(join(d, 'dst.db'), 'old');
    expect(sh(`bg_offhost_commit ${q(join(d, 'p'))} ${q(join(d, 'dst.db'))} ${sha('abc')}`).code).not.toBe(0);
    expect(readFileSync(join(d, 'dst.db'), 'utf8')).toBe('old');
    expect(readdirSync(d)).toEqual(['dst.db']);
    expect(sh(`bg_offhost_has ${q(join(d, 'dst.db'))} ${sha('old')}`).code).toBe(0);
    expect(sh(`bg_offhost_has ${q(join(d, 'dst.db'))} ${sha('abc')}`).code).toBe(4);
    expect(sh(`bg_offhost_has ${q(join(d, 'none.db'))} ${sha('abc')}`).code).toBe(3);
    execFileSync('ln', ['-s', join(d, 'dst.db'), join(d, 'link.db')]);
    expect(sh(`bg_offhost_has ${q(join(d, 'link.db'))} ${sha('old')}`).code).toBe(4);
    expect(sh(`bg_offhost_send ${q(join(d, 'link.db'))}`).code).toBe(3);
  });
});

describe('bg backups: copies found on this machine', () => {
  it('finds ENV-RUNID.db files of the envs only (longest env name first), plain files only', () => {
    const d = tmp();
    for (const f of [`blue-${RUN}.db`, `blue-2-${RUN}.db`, `green-${RUN}.db.part`, `blue-x.db`, `purple-${RUN}.db`]) writeFileSync(join(d, f), 'x');
    writeFileSync(join(d, `blue-${RUN}.db.sha256`), 'x');
    execFileSync('ln', ['-s', join(d, `blue-${RUN}.db`), join(d, `green-${RUN}.db`)]);
    const found = findLocalCopies(d, ['blue', 'blue-2', 'green']).sort((a, b) => a.file.localeCompare(b.file));
    expect(found.map((f) => [f.env, f.run, f.checksum])).toEqual([
      ['blue-2', RUN, false],
      ['blue', RUN, true],
    ]);
    expect(findLocalCopies(join(d, 'absent'), ['blue'])).toEqual([]);
  });

  it('joins copies to the host backups of the same env and run; copies whose backup is gone stand alone', () => {
    const onHost: BackupEntry = { host: 'prod', env: 'blue', run: RUN, file: `blue-${RUN}.db`, path: `/bk/blue-${RUN}.db`, size: 10, modified: 100, ageSeconds: 5, rows: null, verified: null, copies: [] };
    const older = '20261120T120000Z-abcd';
    const joined = withCopies('prod', [onHost], [
      { env: 'blue', run: RUN, file: `blue-${RUN}.db`, path: '/c/a.db', size: 10, modified: 50, checksum: true },
      { env: 'green', run: older, file: `green-${older}.db`, path: '/c/b.db', size: 7, modified: 40, checksum: false },
    ], 100);
    expect(joined).toEqual([
      { ...onHost, copies: [{ path: '/c/a.db', size: 10, checksum: true }] },
      { host: 'prod', env: 'green', run: older, file: `green-${older}.db`, path: null, size: 7, modified: 40, ageSeconds: 60, rows: null, verified: null, copies: [{ path: '/c/b.db', size: 7, checksum: false }] },
    ]);
  });
});
