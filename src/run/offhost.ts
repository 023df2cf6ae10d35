// Backups off the host (issue 17): a verified backup copied to the machine running bg over the
// connection bg already has, and the way back (a local copy sent to a host for `bg restore
// --from-local`). The transfer is a command whose standard output is the file (run through the
// transport like any other, with its bound, Ctrl-C and connection-loss handling): no SFTP
// subsystem needed, the same login and `environment:` as every command, and the host's sha256sum
// and size arrive in the same round trip, on a header line in front of the bytes.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import os from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { quotePath } from '../plan/quote.js';
import { call } from '../plan/sh-lib.js';
import type { Download, PlanStep } from '../plan/types.js';
import { StepFailure } from './step-error.js';
import type { StepObserver } from './step-runner.js';
import type { CommandResult, Transport } from '../transport/transport.js';

/** What bg_offhost_send (src/remote/offhost.sh) prints in front of the file's bytes. */
export const SEND_HEADER = '@@bg-offhost ';
/** Bytes a login shell may print before the header (a .bashrc's noise) before bg gives up. */
const MAX_NOISE = 64 * 1024;

/**
 * Splits what bg_offhost_send prints: anything before the header line (at the start of a line),
 * the header (sha256 and size), then the file's bytes, passed on as they arrive. Never throws (it
 * runs inside the connection's data events): a problem is kept in `problem`.
 */
export class SendReader {
  header?: { sha256: string; size: number };
  problem?: string;
  private pending = Buffer.alloc(0);

  constructor(private readonly onData: (chunk: Buffer) => void) {}

  push(chunk: Buffer): void {
    if (this.problem) return;
    if (this.header) return this.onData(chunk);
    const buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let at = buf.indexOf(SEND_HEADER);
    while (at > 0 && buf[at - 1] !== 0x0a) at = buf.indexOf(SEND_HEADER, at + 1);
    const nl = at < 0 ? -1 : buf.indexOf(0x0a, at);
    if (nl < 0) {
      this.pending = Buffer.from(buf);
      if (buf.length > MAX_NOISE) this.problem = `the host printed ${buf.length} bytes without the copy's header line`;
      return;
    }
    const m = /^([0-9a-f]{64}) ([0-9]+)$/.exec(buf.subarray(at + SEND_HEADER.length, nl).toString('latin1'));
    if (!m) {
      this.problem = 'the copy\'s header line is malformed';
      return;
    }
    this.header = { sha256: m[1]!, size: Number(m[2]) };
    this.pending = Buffer.alloc(0);
    if (nl + 1 < buf.length) this.onData(buf.subarray(nl + 1));
  }
}

/** A local path as the inventory or a flag gives it: `~` is this user's home, relative is from `cwd`. */
export function localPath(p: string, cwd = process.cwd(), home = os.homedir()): string {
  if (p === '~') return home;
  if (p.startsWith('~/')) return join(home, p.slice(2));
  return resolve(cwd, p);
}

export interface CopyDone {
  local: string;
  bytes: number;
  sha256: string;
}

/** Why a copy failed, with the command's result when it ran (for the failure message). */
export class CopyFailure extends Error {
  constructor(
    message: string,
    readonly result?: CommandResult,
    /** The command itself failed (exit status, timeout, lost connection), not what bg checks here. */
    readonly commandFailed = false,
  ) {
    super(message);
    this.name = 'CopyFailure';
  }
}

/**
 * Copy a host file here: streamed into a temporary file beside `local` (never held in memory),
 * its sha256 and size compared with the host's, fsynced, renamed into place; then `local.sha256`
 * (sha256sum's format: `sha256sum -c` checks it) written the same way. On any failure the
 * temporary file is removed and nothing is left at `local`.
 */
export async function downloadCopy(transport: Transport, d: Download, opts: { signal?: AbortSignal; cwd?: string } = {}): Promise<{ copy: CopyDone; result: CommandResult }> {
  const local = localPath(d.local, opts.cwd);
  const dir = dirname(local);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new CopyFailure(`cannot create ${dir} on this machine: ${(e as Error).message}`);
  }
  const tmp = join(dir, `.${basename(local)}.${randomBytes(6).toString('hex')}.part`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', 0o600);
  } catch (e) {
    throw new CopyFailure(`cannot write in ${dir} on this machine: ${(e as Error).message}`);
  }
  const hash = createHash('sha256');
  let bytes = 0;
  let writeError: string | undefined;
  // A local write that fails (a full disk) stops the command on the host too.
  const stop = new AbortController();
  const reader = new SendReader((chunk) => {
    if (writeError) return;
    try {
      for (let off = 0; off < chunk.length; ) off += writeSync(fd!, chunk, off, chunk.length - off);
      hash.update(chunk);
      bytes += chunk.length;
    } catch (e) {
      writeError = `writing ${tmp}: ${(e as Error).message}`;
      stop.abort();
    }
  });
  let result: CommandResult | undefined;
  try {
    const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
    result = await transport.exec(d.cmd, { stdoutSink: (c) => reader.push(c), signal });
    const problem =
      writeError ??
      (result.exitCode !== 0 ? undefined : reader.problem ?? (!reader.header ? 'the host sent no copy header' : bytes !== reader.header.size ? `received ${bytes} bytes of ${reader.header.size}` : undefined));
    if (problem) throw new CopyFailure(problem, result);
    if (result.exitCode !== 0) throw new CopyFailure(`the command exited ${result.exitCode}`, result, true);
    const sha256 = hash.digest('hex');
    if (sha256 !== reader.header!.sha256) throw new CopyFailure(`the copy arrived with sha256 ${sha256}, the host's sha256sum says ${reader.header!.sha256}`, result);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, local);
    writeAtomic(`${local}.sha256`, `${sha256}  ${basename(local)}\n`);
    syncDir(dir);
    return { copy: { local, bytes, sha256 }, result };
  } catch (e) {
    if (e instanceof CopyFailure) throw e;
    throw new CopyFailure(`cannot keep the copy at ${local}: ${(e as Error).message}`, result);
  } finally {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
  }
}

/** Write a small file through a temporary name and a rename: readers see the old file or the new one. */
function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** The rename is durable only once the directory is synced (best effort: some filesystems refuse). */
function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // not supported here; the data itself was fsynced
  }
}

/** sha256 of a local file, read in chunks (never whole in memory). */
export function sha256OfFile(path: string): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(1024 * 1024);
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) hash.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/**
 * The executor's hook, run after a step's verify: a step with a `download` (backup's copy_to) has
 * its file copied here, reported like a command (phase `copy`); a failure fails the step.
 */
export async function copyAfterStep(step: PlanStep, transport: Transport, observer?: StepObserver, signal?: AbortSignal): Promise<CopyDone | undefined> {
  const d = step.download;
  if (!d) return undefined;
  const command = { cmd: d.cmd, label: d.label };
  const report = (result: CommandResult) => observer?.command?.({ phase: 'copy', command, result, attempt: 1 });
  try {
    const { copy, result } = await downloadCopy(transport, d, { signal });
    report({ ...result, stdout: `copied ${copy.bytes} bytes to ${copy.local} (sha256 ${copy.sha256})` });
    return copy;
  } catch (e) {
    const f = e instanceof CopyFailure ? e : new CopyFailure((e as Error).message);
    if (f.result) report(f.result);
    if (f.commandFailed && f.result) throw new StepFailure(transport.host, step, 'copy', command, f.result);
    const tail = f.result?.stderr.trim().split('\n').filter(Boolean).slice(-6) ?? [];
    throw new Error([`"${step.name}" failed on ${transport.host}: copying ${d.remote} to ${d.local} on this machine: ${f.message}`, `  command (${d.label}):`, `    ${d.cmd}`, ...(tail.length ? ['  stderr (last lines):', ...tail.map((l) => `    ${l}`)] : [])].join('\n'));
  }
}

/** A copy on this machine, checked against the sha256 recorded beside it (`FILE.sha256`). */
export interface LocalCopy {
  path: string;
  name: string;
  sha256: string;
  size: number;
}

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');
const PGDUMP_MAGIC = Buffer.from('PGDMP', 'latin1');

/**
 * A local copy as bg wrote it, or why not: a plain file holding an SQLite database (or a pg_dump archive, .pgdump) whose sha256
 * equals the one in `FILE.sha256` (sha256sum's format, naming the file). Read-only.
 */
export function checkLocalCopy(path: string): LocalCopy | { problem: string } {
  const name = basename(path);
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    return { problem: (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message };
  }
  if (!st.isFile()) return { problem: 'not a file' };
  let recorded: string;
  try {
    recorded = readFileSync(`${path}.sha256`, 'utf8');
  } catch {
    return { problem: `no checksum beside it (${name}.sha256, written with every copy bg makes): its content cannot be checked` };
  }
  const m = /^([0-9a-f]{64}) [ *](.+)\n?$/.exec(recorded);
  if (!m || m[2] !== name) return { problem: `${name}.sha256 does not hold the sha256 of ${name} (expected "HASH  ${name}", as sha256sum prints it)` };
  const sha256 = sha256OfFile(path);
  if (sha256 !== m[1]) return { problem: `its sha256 is ${sha256}, not ${m[1]} as recorded in ${name}.sha256 when it was copied: the copy is damaged` };
  // A PostgreSQL env's copy is a custom-format pg_dump archive (it starts with PGDMP).
  const pg = name.endsWith('.pgdump');
  const magic = pg ? PGDUMP_MAGIC : SQLITE_MAGIC;
  const head = Buffer.alloc(magic.length);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  if (!head.equals(magic)) return { problem: pg ? 'not a pg_dump custom-format archive' : 'not an SQLite database' };
  return { path, name, sha256, size: st.size };
}

/** Raw bytes per upload command: 4 MiB (5.6 MB of base64 on stdin). */
const UPLOAD_CHUNK = 4 * 1024 * 1024;

/**
 * Send a checked local copy to the host as `dst` (in `dir`, the backups directory): nothing to do
 * when `dst` is already that file; refused (`different`) when another file has its name; else
 * written to a temporary name in base64 chunks, its sha256 checked by the host's sha256sum, linked
 * into place (never over a file) with its `.counts`.
 */
export async function uploadCopy(transport: Transport, copy: LocalCopy, dir: string, dst: string, prefix = ''): Promise<{ state: 'present' | 'uploaded' | 'different' | 'absent'; result: CommandResult }> {
  const has = await transport.exec(prefix + call('bg_offhost_has', quotePath(dst), copy.sha256), { timeoutMs: 600_000 });
  if (has.exitCode === 0) return { state: 'present', result: has };
  if (has.exitCode === 4) return { state: 'different', result: has };
  if (has.exitCode !== 3) throw new CopyFailure(`cannot look for ${dst}: exit ${has.exitCode}`, has, true);
  const part = `${dst}.${randomBytes(6).toString('hex')}.part`;
  const fd = openSync(copy.path, 'r');
  try {
    const buf = Buffer.allocUnsafe(UPLOAD_CHUNK);
    for (let first = true; ; first = false) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0 && !first) break;
      const r = await transport.exec(prefix + call('bg_offhost_part', quotePath(dir), quotePath(part), first ? 'new' : undefined), { stdin: buf.subarray(0, n).toString('base64') + '\n' });
      if (r.exitCode !== 0) {
        await transport.exec(prefix + call('bg_offhost_drop', quotePath(part))).catch(() => undefined);
        throw new CopyFailure(`writing ${part} failed: exit ${r.exitCode}`, r, true);
      }
      if (n === 0) break;
    }
  } finally {
    closeSync(fd);
  }
  const done = await transport.exec(prefix + call('bg_offhost_commit', quotePath(part), quotePath(dst), copy.sha256), { timeoutMs: 600_000 });
  if (done.exitCode !== 0) {
    await transport.exec(prefix + call('bg_offhost_drop', quotePath(part))).catch(() => undefined);
    throw new CopyFailure(`the upload to ${dst} was not accepted: exit ${done.exitCode}`, done, true);
  }
  return { state: 'uploaded', result: done };
}
