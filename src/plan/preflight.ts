// Read-only pre-flight checks that actions attach to their steps; the planner keeps each once.
import type { ResolvedHost } from './host-model.js';
import { quotePath, shellQuote } from './quote.js';
import type { Command } from './types.js';
import { formatVersion, newestNeeded, versionNumber, type StepNeed } from './sqlite-features.js';
import { call } from './sh-lib.js';
import { dbsOf } from './host-model.js';

export function toolPresent(tool: string, versionArg = '--version'): Command {
  return { cmd: call('bg_tool', shellQuote(tool), shellQuote(versionArg)), label: `${tool} is installed` };
}

export function dirExists(dir: string): Command {
  return { cmd: call('bg_dir_exists', quotePath(dir)), label: `${dir} exists` };
}

/** The database exists and `PRAGMA quick_check` prints ok. */
export function databaseIntact(db: string): Command {
  return { cmd: call('bg_db_intact', quotePath(db)), label: `PRAGMA quick_check of ${db} is ok` };
}

/**
 * Free space where backups go exceeds twice the size of every env database of the host (with
 * their -wal files): one check per host, whatever the number of backup steps.
 */
export function spaceForBackups(host: ResolvedHost, backupsDir: string): Command {
  const dbs = Object.values(host.envs).flatMap((e) => dbsOf(e).map((d) => d.path));
  return {
    cmd: call('bg_space_for', quotePath(backupsDir), ...dbs.map((db) => quotePath(db))),
    label: `free space in ${backupsDir} exceeds twice the size of the databases`,
  };
}

/** The label of the sqlite3 version check (bg finds its result by it). */
export const SQLITE_VERSION_LABEL = 'sqlite3 is new enough for every step that uses it';

/**
 * The host's sqlite3 is at least what every step's own sqlite3 calls need; else one line per
 * step naming the step, the version and the feature, and the version and path the host has:
 * "step 2 (Back up BLUE) needs sqlite3 ≥ 3.27 for VACUUM INTO; the host has 3.22.0 (/usr/bin/sqlite3)".
 * Undefined when no step calls sqlite3. Step names are user data: printf arguments, quoted.
 */
export function sqliteVersionCheck(needs: readonly StepNeed[]): Command | undefined {
  if (needs.length === 0) return undefined;
  const steps = needs.map((n) => n.step).join(', ');
  const none = `bg: no sqlite3 on the host's PATH; step${needs.length > 1 ? 's' : ''} ${steps} need${needs.length > 1 ? '' : 's'} it`;
  // Per step: its number, its name (user data: one quoted word), then version and text of each need,
  // newest first, so that the message names what matters most first.
  const words = needs.flatMap((n) => {
    const fs = [...n.features].sort((a, b) => versionNumber(b.since) - versionNumber(a.since));
    return [String(n.step), shellQuote(n.name), String(fs.length), ...fs.flatMap((f) => [String(versionNumber(f.since)), shellQuote(`≥ ${formatVersion(f.since)} for ${f.name}`)])];
  });
  const cmd = call('bg_sqlite_check', shellQuote(none), ...words);
  const newest = newestNeeded(needs.flatMap((n) => n.features));
  const what = [...new Set(needs.flatMap((n) => n.features).filter((f) => f.since === newest).map((f) => f.name))].join(', ');
  return { cmd, label: `${SQLITE_VERSION_LABEL} (≥ ${formatVersion(newest)} for ${what})` };
}
