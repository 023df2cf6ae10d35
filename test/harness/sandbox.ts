import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, lstatSync, readlinkSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Sandbox {
  root: string;
  blue: { dir: string; db: string };
  green: { dir: string; db: string };
  /** A stable fingerprint of every file, link and mode under root: equal before and after means nothing changed. */
  checksum(): string;
  remove(): void;
}

/** A BLUE/GREEN layout with a real SQLite database in each env (WAL mode, some rows). */
export function makeSandbox(prefix = 'bg-e2e-'): Sandbox {
  const root = mkdtempSync(join(tmpdir(), prefix));
  // World-writable so that the SSH test user can work in it too.
  chmodSync(root, 0o777);
  const env = (name: string, rows: number) => {
    const dir = join(root, `TimeTracking-${name}`, 'server');
    mkdirSync(dir, { recursive: true });
    const db = join(dir, 'database.db');
    const inserts = Array.from({ length: rows }, (_, i) => `(${i + 1}, 'entry ${i + 1}', ${i * 5})`).join(',');
    execFileSync('sqlite3', [db, `PRAGMA journal_mode=WAL; CREATE TABLE time_entries(id INTEGER PRIMARY KEY, description TEXT, minutes INT); INSERT INTO time_entries VALUES ${inserts}; CREATE TABLE "odd ""name"" table"(x); `]);
    writeFileSync(join(dir, '.env'), `PORT=3000\nAPP_ENV=${name.toLowerCase()}\n`);
    execFileSync('chmod', ['-R', 'a+rwX', join(root, `TimeTracking-${name}`)]);
    return { dir, db };
  };
  const blue = env('BLUE', 25);
  const green = env('GREEN', 7);
  return { root, blue, green, checksum: () => checksumTree(root), remove: () => rmSync(root, { recursive: true, force: true }) };
}

export function checksumTree(root: string): string {
  const hash = createHash('sha256');
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const st = lstatSync(path);
      hash.update(`${path}\0${st.mode}\0`);
      if (st.isSymbolicLink()) hash.update(readlinkSync(path));
      else if (st.isDirectory()) walk(path);
      else hash.update(readFileSync(path));
    }
  };
  walk(root);
  return hash.digest('hex');
}

/** Rows per table of a database, read with the sqlite3 CLI. */
export function rowCounts(db: string): Record<string, number> {
  const tables = execFileSync('sqlite3', [db, "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY 1"], { encoding: 'utf8' }).split('\n').filter(Boolean);
  return Object.fromEntries(tables.map((t) => [t, Number(execFileSync('sqlite3', [db, `SELECT count(*) FROM "${t.replace(/"/g, '""')}"`], { encoding: 'utf8' }).trim())]));
}
