import { z } from 'zod';
import type { ActionDef } from '../action.js';
import { quotePath, shellQuote } from '../quote.js';
import { call } from '../sh-lib.js';
import { dbEnvs, dbParams } from './db-common.js';
import { databaseIntact, toolPresent } from '../preflight.js';
import { SQLITE } from '../sqlite-features.js';

const params = z.object({ ...dbParams }).strict();

/** What this action's own sqlite3 calls need of the host's sqlite3 (checked in pre-flight; see sqlite-features.ts). */
export const schemaCheckSqlite = [SQLITE.pragmaFunctions, SQLITE.printf, SQLITE.charFunction, SQLITE.instr];

/**
 * Fingerprint the envs' databases from SQLite's catalog (tables, columns, indexes, foreign keys,
 * views, triggers) plus the applied migrations, and require them equal. On a difference, the
 * differing lines are printed (stderr) and the step fails.
 */
export const schemaCheckAction: ActionDef<z.output<typeof params>> = {
  name: 'schema-check',
  summary: "compare the envs' schema fingerprints (catalog + applied migrations)",
  env: 'none',
  params,
  build({ params: p, host }) {
    const envs = dbEnvs(host, p.envs);
    // bg_schema_check (src/remote/fingerprint.sh) compares the first env with each other one.
    const compare = call('bg_schema_check', shellQuote(p.migrations_table), shellQuote(p.migrations_column), ...envs.flatMap((e) => [shellQuote(e.name), quotePath(e.db)]));
    return {
      mutates: false,
      preflight: [toolPresent('sqlite3'), ...envs.map((e) => databaseIntact(e.db))],
      run: [],
      verify: [{ cmd: compare, label: `same schema and migrations: ${envs.map((e) => e.name).join(', ')}` }],
      undoNote: 'read-only',
    };
  },
};
