// The SQLite features bg's own sqlite3 calls rely on, each with the release that added it (from
// sqlite.org's release notes), and the features a migration may use. Pure data and version
// arithmetic: the pre-flight check that compares them with the host's sqlite3 is in preflight.ts.

/** major, minor, patch. */
export type SqliteVersion = readonly [number, number, number];

export interface SqliteFeature {
  /** What a person reads: "VACUUM INTO". */
  name: string;
  since: SqliteVersion;
  /** Finds the feature in SQL or shell text (the unit test checks every action's scripts with it). */
  detect: RegExp;
}

/** Features bg's own scripts use: a host sqlite3 older than one a step needs fails the pre-flight. */
export const SQLITE = {
  vacuumInto: { name: 'VACUUM INTO', since: [3, 27, 0], detect: /\bVACUUM\s+INTO\b/i },
  pragmaFunctions: { name: 'PRAGMA table-valued functions (pragma_table_info …)', since: [3, 16, 0], detect: /\bpragma_[a-z_]+\s*\(/i },
  // index_xinfo and index_list's origin/partial columns (3.9.0, 3.8.9) are read only through
  // pragma_index_xinfo/pragma_index_list, so pragmaFunctions (3.16.0) covers them.
  walCheckpointTruncate: { name: 'PRAGMA wal_checkpoint(TRUNCATE)', since: [3, 8, 8], detect: /wal_checkpoint\s*\(\s*TRUNCATE/i },
  // SQL printf() is written `printf('…`; the shell's printf is followed by a space.
  printf: { name: 'the printf() SQL function', since: [3, 8, 3], detect: /\bprintf\('/ },
  charFunction: { name: 'the char() SQL function', since: [3, 7, 16], detect: /\bchar\(\d/ },
  instr: { name: 'the instr() SQL function', since: [3, 7, 15], detect: /\binstr\(/ },
  backupCommand: { name: 'the .backup dot-command', since: [3, 6, 11], detect: /\.backup\b/ },
} as const satisfies Record<string, SqliteFeature>;

/**
 * Features bg's scripts do NOT use today (the unit test fails if one appears undeclared), and
 * that a migration may use: the app's migrate command runs them with its own SQLite (e.g.
 * better-sqlite3 bundles one), so against the host's sqlite3 they are a warning at most.
 */
export const MIGRATION_FEATURES: readonly SqliteFeature[] = [
  { name: 'ALTER TABLE … DROP COLUMN', since: [3, 35, 0], detect: /\bDROP\s+COLUMN\b/i },
  { name: 'ALTER TABLE … RENAME COLUMN', since: [3, 25, 0], detect: /\bRENAME\s+COLUMN\b/i },
  { name: 'RETURNING', since: [3, 35, 0], detect: /\bRETURNING\b/i },
  { name: 'STRICT tables', since: [3, 37, 0], detect: /\)\s*STRICT\b/i },
  { name: 'generated columns', since: [3, 31, 0], detect: /\bGENERATED\s+ALWAYS\b/i },
  { name: 'the ->> operator', since: [3, 38, 0], detect: /->>/ },
  { name: 'window functions', since: [3, 25, 0], detect: /\bOVER\s*\(/i },
  { name: 'UPSERT (ON CONFLICT … DO)', since: [3, 24, 0], detect: /\bON\s+CONFLICT\b[^;]*?\bDO\b/i },
];

/** `3.27` for 3.27.0, `3.8.8`, … as people write versions. */
export function formatVersion(v: SqliteVersion): string {
  return v[2] === 0 ? `${v[0]}.${v[1]}` : v.join('.');
}

/** One integer that orders versions the way the host's shell compares them (see preflight.ts). */
export function versionNumber(v: SqliteVersion): number {
  return v[0] * 1_000_000 + v[1] * 1_000 + v[2];
}

/**
 * The version at the start of `sqlite3 --version` output ("3.40.1 2022-12-28 14:03:47 df5c…"),
 * or undefined when the text does not start with one.
 */
export function parseSqliteVersion(text: string): SqliteVersion | undefined {
  const m = /^\s*(\d{1,4})\.(\d{1,4})(?:\.(\d{1,4}))?(?=$|[\s.])/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

/** What one plan step needs of the host's sqlite3. */
export interface StepNeed {
  step: number;
  name: string;
  features: readonly SqliteFeature[];
}

/** The features of `needs` that version `have` lacks, newest requirement first. */
export function missingFeatures(needs: readonly SqliteFeature[], have: SqliteVersion): SqliteFeature[] {
  return needs.filter((f) => versionNumber(f.since) > versionNumber(have)).sort((a, b) => versionNumber(b.since) - versionNumber(a.since));
}

/** The newest version any of the features needs (0.0.0 for none). */
export function newestNeeded(features: readonly SqliteFeature[]): SqliteVersion {
  return features.reduce<SqliteVersion>((max, f) => (versionNumber(f.since) > versionNumber(max) ? f.since : max), [0, 0, 0]);
}
