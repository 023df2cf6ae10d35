import type { ResolvedEnv, ResolvedHost } from './host-model.js';
import { joinPath } from './quote.js';
import { dbsOf } from './host-model.js';

export const DEFAULT_BACKUPS: { dir: string; keep: number; copy_to?: string } = { dir: '~/bg-backups', keep: 20 };

/** Where a run's backup of an env's database lives: deterministic, so undo can find it. */
export function backupPath(host: ResolvedHost, envName: string, runId: string): string {
  return joinPath((host.backups ?? DEFAULT_BACKUPS).dir, `${envName}-${runId}.db`);
}

/**
 * The backup file name of one database of an env: the default database (the first of `dbs:`, or
 * `db:`) keeps `ENV-RUNID.db`, so backups taken before `dbs:` existed, `bg backups`, `bg restore`
 * and copy_to read the same; another database NAME gets `ENV-RUNID.NAME.db`.
 */
export function backupFileName(envName: string, runId: string, dbName?: string): string {
  return dbName === undefined ? `${envName}-${runId}.db` : `${envName}-${runId}.${dbName}.db`;
}

/** One database of an env with this run's backup of it: `dbName` undefined for the default. */
export interface DbBackup {
  /** The database's name (`dbs:` key, or `db`). */
  name: string;
  /** Undefined for the default database (its backup has no name in it); else `name`. */
  dbName?: string;
  db: string;
  backup: string;
}

/** Every SQLite database of an env with where this run backs it up, the default first. */
export function envBackups(host: ResolvedHost, env: ResolvedEnv, runId: string): DbBackup[] {
  const dir = (host.backups ?? DEFAULT_BACKUPS).dir;
  return dbsOf(env).map((d, i) => {
    const dbName = i === 0 ? undefined : d.name;
    return { name: d.name, ...(dbName !== undefined ? { dbName } : {}), db: d.path, backup: joinPath(dir, backupFileName(env.name, runId, dbName)) };
  });
}

// A run id as src/cli/run-id.ts makes them: 20261121T122255.123Z-3fa1.
const RUN_ID_RE = '[0-9]{8}T[0-9]{6}(\\.[0-9]{3})?Z-[0-9A-Za-z]{1,32}';

/**
 * The grep -E pattern of one database's backups of an env, exact: the default's never matches a
 * named one's (`ENV-RUNID.db` only), a named one's only `ENV-RUNID.NAME.db`. Pruning counts and
 * removes by it, so pruning one database never touches another's backups.
 */
export function backupPattern(envName: string, dbName?: string): string {
  const env = envName.replace(/[.[\]()*+?^$|{}\\]/g, '\\$&');
  return `^${env}-${RUN_ID_RE}${dbName === undefined ? '' : `\\.${dbName}`}\\.db$`;
}

/** What follows the run id in a database's backup file names (`.db` or `.NAME.db`): pruning reads the run id before it. */
export function backupSuffix(dbName?: string): string {
  return dbName === undefined ? '.db' : `.${dbName}.db`;
}

/**
 * A step whose undo restores a backup records that backup's path, at capture time (before the
 * step changes anything), in `<step dir>/backup` (migrate does). The record is what protects the
 * backup: pruning keeps it while that step is not undone, and `bg rollback` refuses to start when
 * it is missing. Both are plain shell, so the host's state is readable without bg.
 */
export const UNDO_BACKUP_RECORD = 'backup';

/**
 * The record of another database's backup (`dbs:`), beside the default's: `backup.NAME`. Pruning
 * and `bg rollback`'s check read `backup` and every `backup.*` (src/remote/backup.sh, runs.sh).
 */
export function undoBackupRecord(dbName?: string): string {
  return dbName === undefined ? UNDO_BACKUP_RECORD : `${UNDO_BACKUP_RECORD}.${dbName}`;
}

/**
 * Where a backup's copy goes on the machine running bg (backups' `copy_to`): one directory per
 * host under COPY_TO, the file named as on the host, so the run id is in its name. The path is
 * kept as given (`~`, relative): the executor resolves it where it writes.
 */
export function localCopyPath(copyTo: string, hostName: string, envName: string, runId: string, dbName?: string): string {
  return `${localCopyDir(copyTo, hostName)}/${backupFileName(envName, runId, dbName)}`;
}

/** The same for a PostgreSQL env's dump (`ENV-RUNID.pgdump`, as on the host). */
export function localPgCopyPath(copyTo: string, hostName: string, envName: string, runId: string): string {
  return `${localCopyDir(copyTo, hostName)}/${envName}-${runId}.pgdump`;
}

/** The directory of one host's copies under COPY_TO (host names are plain: letters, digits, _ and -). */
export function localCopyDir(copyTo: string, hostName: string): string {
  const base = copyTo.replace(/\/+$/, '');
  return `${base}/${hostName}`;
}
