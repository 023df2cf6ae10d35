// Names of the SQLite functions of the remote library (src/remote/sqlite.sh).
import { shFn } from './sh-lib.js';

export const BG_SQL = shFn('bg_sql');
export const BG_SQLQ = shFn('bg_sqlq');
export const BG_DOTQ = shFn('bg_dotq');
export const BG_COUNTS = shFn('bg_counts');
export const BG_COUNTS_Q = shFn('bg_counts_q');
export const BG_SNAPSHOT_COPY = shFn('bg_snapshot_copy');
export const BG_EXTRA = shFn('bg_extra');
export const BG_SQLITE_VERSION = shFn('bg_sqlite_version');
/** Every function the backup action uses (kept as one block for it). */
export const SQLITE_FUNCTIONS = '';
