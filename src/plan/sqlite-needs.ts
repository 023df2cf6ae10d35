// Which built-in actions call the host's sqlite3, and what each needs of it. The lists are
// declared next to the scripts that use the features (src/plan/actions/*.ts); a unit test finds
// every feature in every action's scripts and fails when one is used but not declared here.
import { backupSqlite } from './actions/backup.js';
import { dbInspectSqlite } from './actions/db-inspect.js';
import { migrateSqlite } from './actions/migrate.js';
import { schemaCheckSqlite } from './actions/schema-check.js';
import { shareDbSqlite } from './actions/share-db.js';
import { SQLITE, type SqliteFeature, type StepNeed } from './sqlite-features.js';
import type { Plan } from './types.js';

/** Action name → the features its own sqlite3 calls use (actions absent here do not call sqlite3). */
export const SQLITE_NEEDS: Readonly<Record<string, readonly SqliteFeature[]>> = {
  backup: backupSqlite,
  migrate: migrateSqlite,
  // The migrate action on a release's color (its undo is migrate's, behind --restore-db).
  'release-migrate': migrateSqlite,
  'schema-check': schemaCheckSqlite,
  'db-inspect': dbInspectSqlite,
  'share-db': shareDbSqlite,
  // restore-sh.ts (shared with migrate's undo) copies the database it replaces with VACUUM INTO.
  restore: [SQLITE.vacuumInto, SQLITE.pragmaFunctions, SQLITE.walCheckpointTruncate, SQLITE.printf],
};

/** The plan's steps that call sqlite3, with what each needs (a `shell` step's commands are the user's own). */
export function stepSqliteNeeds(plan: Plan): StepNeed[] {
  return plan.steps.flatMap((s) => {
    const features = Object.hasOwn(SQLITE_NEEDS, s.action) ? SQLITE_NEEDS[s.action]! : [];
    return features.length ? [{ step: s.index, name: s.name, features }] : [];
  });
}
