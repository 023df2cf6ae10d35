// A release's local source (a directory or a tarball on the machine running bg) streamed to the
// host over the connection bg already has: a tar archive, in base64 chunks on the command's
// standard input (commands are text), checked with the host's sha256sum, renamed into place.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { execa } from 'execa';
import { BgError, ExitCode, UsageError } from '../errors.js';
import { quotePath } from '../plan/quote.js';
import type { Upload } from '../plan/types.js';
import type { Transport } from '../transport/transport.js';

/** Raw bytes per command: 4 MiB (5.6 MB of base64 on stdin). */
const CHUNK = 4 * 1024 * 1024;

/** Refuse (exit 2, before connecting) a source that is not a directory or a file here. */
export function checkUploads(uploads: readonly Upload[]): void {
  for (const u of uploads) {
    let st;
    try {
      st = statSync(resolve(u.local));
    } catch (e) {
      throw new UsageError(`source ${u.local}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message} (give a directory or a tarball on this machine)`);
    }
    if (!st.isDirectory() && !st.isFile()) throw new UsageError(`source ${u.local}: not a directory or a file`);
  }
}

/** The tar archive of a source: a directory packed here (without .git and node_modules), or the file as it is. */
export async function archiveOf(local: string): Promise<Buffer> {
  const path = resolve(local);
  if (statSync(path).isFile()) return readFileSync(path);
  const r = await execa('tar', ['-c', '-f', '-', '--exclude=./.git', '--exclude=./node_modules', '-C', path, '.'], { encoding: 'buffer', reject: false, stripFinalNewline: false, maxBuffer: 2 * 1024 ** 3 });
  if (r.exitCode !== 0) throw new UsageError(`cannot pack ${local} with tar: ${Buffer.from(r.stderr).toString().trim()}`);
  return Buffer.from(r.stdout);
}

/** Send one source to the host as `remote` (written to a temporary name, checked, renamed). */
export async function uploadOne(transport: Transport, u: Upload): Promise<{ bytes: number; sha256: string }> {
  const data = await archiveOf(u.local);
  const sha = createHash('sha256').update(data).digest('hex');
  const dst = quotePath(u.remote);
  const part = quotePath(`${u.remote}.part`);
  const dir = quotePath(u.remote.replace(/\/[^/]*$/, '') || '/');
  const fail = (what: string, r: { exitCode: number; stderr: string }) => {
    throw new BgError(`uploading ${u.local} to ${transport.host}:${u.remote} failed (${what}): exit ${r.exitCode}: ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`, ExitCode.stepFailed);
  };
  let r = await transport.exec(`mkdir -p ${dir} && : > ${part}`);
  if (r.exitCode !== 0) fail('create', r);
  for (let at = 0; at < data.length || at === 0; at += CHUNK) {
    r = await transport.exec(`base64 -d >> ${part}`, { stdin: data.subarray(at, at + CHUNK).toString('base64') + '\n' });
    if (r.exitCode !== 0) fail('write', r);
    if (data.length === 0) break;
  }
  r = await transport.exec(`h=$(sha256sum < ${part} | cut -c1-64); [ "$h" = ${sha} ] || { echo "arrived with sha256:$h, not sha256:${sha}" >&2; rm -f ${part}; exit 1; }; mv -f ${part} ${dst}`);
  if (r.exitCode !== 0) fail('check', r);
  return { bytes: data.length, sha256: sha };
}
