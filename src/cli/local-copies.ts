// The copies of a host's backups on this machine (backups' copy_to): COPY_TO/HOST/ENV-RUNID.db,
// as the executor writes them (src/run/offhost.ts). Read-only.
import { existsSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { backupFileOf } from '../plan/actions/restore.js';

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

/** Plain files named ENV-RUNID.db for one of `envs` in `dir` (the host's directory under copy_to); none when `dir` is absent. */
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
    const env = byLength.find((e) => file.startsWith(`${e}-`) && file.endsWith('.db') && !('problem' in backupFileOf(file, e, Object.hasOwn(dbNames, e) ? dbNames[e] : [])));
    if (!env) continue;
    const named = backupFileOf(file, env, Object.hasOwn(dbNames, env) ? dbNames[env] : []);
    const path = join(dir, file);
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (!st?.isFile()) continue;
    out.push({ env, run: 'runId' in named ? named.runId : file.slice(env.length + 1, -3), ...('dbName' in named && named.dbName !== undefined ? { db: named.dbName } : {}), file, path, size: st.size, modified: Math.floor(st.mtimeMs / 1000), checksum: existsSync(`${path}.sha256`) });
  }
  return out;
}
