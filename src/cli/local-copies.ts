// The copies of a host's backups on this machine (backups' copy_to): COPY_TO/HOST/ENV-RUNID.db,
// as the executor writes them (src/run/offhost.ts). Read-only.
import { existsSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { backupFileOf } from '../plan/actions/restore.js';
import { pgBackupFileOf } from '../plan/actions/restore-pg.js';

export interface LocalCopyEntry {
  env: string;
  run: string;
  /** Another database of the env than its default (`dbs:`; ENV-RUNID.NAME.db). */
  db?: string;
  file: string;
  /** Absolute path on this machine. */
  path: string;
  size: number;
  /** Modification time, seconds since the epoch. */
  modified: number;
  /** The checksum bg wrote beside it (`FILE.sha256`) is there (`bg restore --from-local` needs it). */
  checksum: boolean;
}

/** Plain files named ENV-RUNID.db (ENV-RUNID.NAME.db, ENV-RUNID.pgdump) for one of `envs` in `dir` (the host's directory under copy_to); none when `dir` is absent. */
export function findLocalCopies(dir: string, envs: string[], dbNames: Record<string, string[]> = {}): LocalCopyEntry[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  // The longest env name that fits first: a copy of env `blue-2` is not one of `blue`.
  const byLength = [...envs].sort((a, b) => b.length - a.length);
  const out: LocalCopyEntry[] = [];
  for (const file of names) {
    // `dbNames`: each env's other databases (dbs:), whose copies are ENV-RUNID.NAME.db.
    // A PostgreSQL env's dump: ENV-RUNID.pgdump.
    const nameOf = (e: string): { runId: string; dbName?: string } | { problem: string } =>
      file.endsWith('.pgdump') ? pgBackupFileOf(file, e) : file.endsWith('.db') ? backupFileOf(file, e, Object.hasOwn(dbNames, e) ? dbNames[e] : []) : { problem: 'not a backup' };
    const env = byLength.find((e) => file.startsWith(`${e}-`) && !('problem' in nameOf(e)));
    if (!env) continue;
    const named = nameOf(env);
    const path = join(dir, file);
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (!st?.isFile()) continue;
    if ('problem' in named) continue;
    out.push({ env, run: named.runId, ...(named.dbName !== undefined ? { db: named.dbName } : {}), file, path, size: st.size, modified: Math.floor(st.mtimeMs / 1000), checksum: existsSync(`${path}.sha256`) });
  }
  return out;
}
