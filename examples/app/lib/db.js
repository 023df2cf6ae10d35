import Database from 'better-sqlite3';

/**
 * Open the SQLite database the way the app and the migrator both do:
 * WAL journal, busy_timeout 5000 ms, synchronous=FULL (a commit that returned is on disk,
 * so a 201 from POST /api/entries is an acknowledged, durable write).
 */
export function openDb(path, { readonly = false, fileMustExist = false } = {}) {
  const db = new Database(path, { readonly, fileMustExist: readonly || fileMustExist });
  db.pragma('busy_timeout = 5000');
  if (!readonly) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
  }
  db.pragma('foreign_keys = ON');
  return db;
}

export function hasTable(db, name) {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

export function hasColumn(db, table, column) {
  return db.prepare('SELECT 1 FROM pragma_table_info(?) WHERE name = ?').get(table, column) !== undefined;
}
