import { z } from 'zod';
import { PlanProblem, type ActionDef } from '../action.js';
import { shellQuote } from '../quote.js';
import { script, shFn, shLib } from '../sh-lib.js';
import { BG_PICK_BASE, dbEnvs, dbParams, envTable } from './db-common.js';
import { databaseIntact, toolPresent } from '../preflight.js';
import { SQLITE } from '../sqlite-features.js';

const params = z
  .object({
    ...dbParams,
    /** `auto`: fail when no env holds every row of the others. An env name: report what it lacks. */
    base: z.string().min(1).default('auto'),
  })
  .strict();

/** `bg_report_db LABEL DB` (src/remote/db.sh). */
export const BG_REPORT_DB = shFn('bg_report_db');

/** What this action's own sqlite3 calls need of the host's sqlite3 (checked in pre-flight; see sqlite-features.ts). */
export const dbInspectSqlite = [SQLITE.pragmaFunctions, SQLITE.printf];

/**
 * Read-only report: per env's database its size, tables, row counts and newest writes, then which
 * rows each holds that another lacks (by content), and which env share-db can take as its base.
 * With `base: auto` it fails when every env holds rows another lacks (share-db would refuse too).
 */
export const dbInspectAction: ActionDef<z.output<typeof params>> = {
  name: 'db-inspect',
  summary: "size, tables, row counts and newest writes of the envs' databases; which holds every row",
  env: 'none',
  params,
  build({ params: p, host }) {
    const envs = dbEnvs(host, p.envs);
    if (p.base !== 'auto' && !envs.some((e) => e.name === p.base))
      throw new PlanProblem(`\`base\` must be auto or one of ${envs.map((e) => e.name).join(', ')}`, ['with', 'base']);
    const report = script(
      envTable(envs),
      `base=${shellQuote(p.base)}`,
      shLib(BG_REPORT_DB, BG_PICK_BASE),
      'for e in $envs; do bg_report_db "$e" "$(db_of "$e")" || exit 1; done',
      'tmp=$(mktemp) || exit 1',
      `bg_pick_base ${shellQuote(p.migrations_table)} ${shellQuote(p.migrations_column)} > "$tmp" || { rm -f "$tmp"; exit 1; }`,
      'rows=$(cat "$tmp"); rm -f "$tmp"; auto=$bg_base',
      `printf '%s\\n' "$rows"`,
      'if [ "$base" = auto ]; then',
      '  if [ -z "$auto" ]; then',
      `    { echo "bg: each database holds rows another lacks, so share-db will not choose a base:"; printf '%s\\n' "$rows" | grep '^rows in ' | sed 's/^/  /'; echo "  give one (share-db with.base, or --var base=ENV for phase2); the rows only the others hold then stay in their .OLD files"; } >&2`,
      '    exit 1',
      '  fi',
      '  echo "base for share-db: $auto (holds every row of the others)"',
      'else',
      `  lost=$(printf '%s\\n' "$rows" | grep "^rows in .* that $base lacks:" | sed 's/^rows in \\(.*\\) that .* lacks: /\\1: /' | tr '\\n' ';' | sed 's/;$//; s/;/; /g' || true)`,
      `  if [ -z "$lost" ]; then echo "base for share-db: $base (given; holds every row of the others)"; else echo "base for share-db: $base (given); rows it lacks stay in the others' .OLD files: $lost"; fi`,
      'fi',
    );
    return {
      mutates: false,
      preflight: [toolPresent('sqlite3'), ...envs.map((e) => databaseIntact(e.db))],
      run: [{ cmd: report, label: `inspect ${envs.map((e) => e.name).join(', ')}` }],
      verify: [],
      undoNote: 'read-only',
    };
  },
};
