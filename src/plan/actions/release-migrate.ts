import { z } from 'zod';
import type { ActionDef, StepBody } from '../action.js';
import { quotePath, shellQuote } from '../quote.js';
import { call } from '../sh-lib.js';
import { migrateAction } from './migrate.js';
import { releasePaths, releaseSource, sourceParams, sourceWords } from './release-common.js';

// The migrate action's own parameters, plus where the release comes from and when its undo runs.
const migrateShape = (migrateAction.params as unknown as z.ZodObject<z.ZodRawShape>).shape;
const params = z
  .object({
    ...migrateShape,
    migrations_dir: z.string().min(1).default('current/migrations'),
    ...sourceParams,
    /** `when-asked`: the database changes stay on undo unless `bg rollback --restore-db`; `always`: as the migrate action. */
    db_undo: z.enum(['when-asked', 'always']).default('when-asked'),
  })
  .strict();

type Params = z.output<typeof params>;

/**
 * The migrate action on the release's color, with two differences. Its lint gate reads the
 * release's migrations before the release is on the host (from the host's git cache at the ref,
 * or from the uploaded archive), against the database's live schema. Its undo restores the
 * backup only when `bg rollback --restore-db` asks (expand-only migrations keep the old version
 * working; restoring would discard what was written since): otherwise it says the changes stay.
 */
export const releaseMigrateAction: ActionDef<Params> = {
  name: 'release-migrate',
  summary: "run the release's pending migrations (linted first) on the color's database; undone only with bg rollback --restore-db",
  env: 'required',
  shellTemplates: ['command', 'pending'],
  params: params as unknown as z.ZodType<Params>,
  build(input) {
    const { ref, source, repo, db_undo, ...rest } = input.params;
    const migrate = rest as typeof rest & { migrations_table: string };
    const src = releaseSource({ ref, source, repo }, input.host, input.runId);
    const body: StepBody = migrateAction.build({ ...input, params: migrate as Parameters<typeof migrateAction.build>[0]['params'] });
    const env = input.env!;
    const paths = releasePaths(env);
    const sub = migrate.migrations_dir.replace(/^current\//, '');
    const [kind, from, at] = sourceWords(src);
    const listing = call(
      'bg_release_listing',
      kind,
      quotePath(paths.releases),
      from,
      at,
      quotePath(sub),
      quotePath(env.db!),
      shellQuote(`SELECT name FROM "${migrate.migrations_table.replace(/"/g, '""')}"`),
      shellQuote(`bg: the release has no migrations directory ${sub} (set with.migrations_dir, or with.lint: false)`),
    );
    const gates = (body.gates ?? []).map((g) => ({ ...g, cmd: listing, label: `pending migrations of the release do not break the version still running (${env.name})` }));
    if (db_undo === 'always') return { ...body, gates };
    const kept = `database changes of ${env.name} kept (expand-only: the old version runs on them); bg rollback --restore-db undoes them`;
    return {
      ...body,
      gates,
      undo: (body.undo ?? []).map((u) => ({ ...u, cmd: `if bg_restore_db_asked; then\n${u.cmd}\nelse echo ${shellQuote(kept)}; fi`, label: `${u.label} (only with --restore-db)` })),
      discardCheck: (body.discardCheck ?? []).map((d) => ({ ...d, cmd: `bg_restore_db_asked || exit 0\n${d.cmd}` })),
    };
  },
};
