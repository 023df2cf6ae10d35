import { z } from 'zod';
import { PlanProblem, type ActionDef } from '../action.js';
import { duration } from '../duration.js';
import { pm2App, pm2AppKnown } from '../pm2-sh.js';
import { databaseIntact, toolPresent } from '../preflight.js';
import { quotePath, shellQuote } from '../quote.js';
import { call } from '../sh-lib.js';
import { stepDir } from '../step-dir.js';
import { dbEnvs, dbParams } from './db-common.js';
import { SQLITE } from '../sqlite-features.js';
import { holdWindowMs } from '../haproxy-config.js';
import { buildPgShareDb, isPgShare } from './share-db-pg.js';
import { dbsOf } from '../host-model.js';
import { shareDbsBody } from './share-dbs.js';

const params = z
  .object({
    ...dbParams,
    /** `auto`: the env whose database holds every row of the others (refuse if none). Or an env name. */
    base: z.string().min(1).default('auto'),
    /** Refuse when the databases' schema fingerprints differ (a shared database serves every env's code). */
    same_schema: z.boolean().default(true),
    /** How long processes may take to let go of the databases once their apps are stopped. */
    release_timeout: duration.default(15_000),
    /** How long the apps may take to come back online on the shared database. */
    wait: duration.default(30_000),
    /** Behind a proxy: how long the freeze will take (`auto`: estimated on the host from the databases' size). */
    expected_freeze: z.union([z.literal('auto'), duration]).default('auto'),
    /** Behind a proxy: the hold window must be at least the expected freeze times this. */
    hold_margin: z.number().min(1).max(100).default(1.5),
    /** Behind a proxy: check the hold window before the freeze (false: skip, e.g. HAProxy not started yet). */
    hold_check: z.boolean().default(true),
  })
  .strict();

export type ShareDbParams = z.output<typeof params>;

const secs = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/** What this action's own sqlite3 calls need of the host's sqlite3 (checked in pre-flight; see sqlite-features.ts). */
export const shareDbSqlite = [SQLITE.pragmaFunctions, SQLITE.walCheckpointTruncate, SQLITE.backupCommand, SQLITE.printf, SQLITE.charFunction, SQLITE.instr];

/**
 * Move every env onto the host's `shared_db` without losing a write the live app acknowledged:
 *
 *   1. freeze: `pm2 stop` every env's app, then wait until no process has any env database open
 *      (checked in /proc by inode). From here nothing can write: every acknowledged write is
 *      committed in the env's database (or its WAL).
 *   2. check: same schema fingerprint everywhere; pick the base = the env whose database holds
 *      every row of the others (by content), or refuse; `with.base` overrides.
 *   3. copy: `.backup` of the base (exact page copy, consistent: nobody writes) to a temporary
 *      name beside shared_db, integrity_check = ok and row counts equal to the base, then renamed
 *      into place. Each old database is checkpointed so it is complete without its WAL.
 *   4. switch: per env, the old file is hard-linked to DB.OLD and DB is atomically replaced by a
 *      symlink to shared_db (`ln -sfn` + `mv -T`): the path never disappears.
 *   5. restart: `pm2 start` the apps that were online, wait until they answer; report how long the
 *      freeze lasted. Behind a proxy, HAProxy holds requests meanwhile: the pre-flight refuses
 *      when its hold window is not longer than the expected freeze with margin.
 *   verify: every pm2 process of every env has shared_db open (/proc/PID/fd, by inode); no process
 *      has any DB.OLD open, no DB-wal appeared beside a link, the old files did not change since
 *      the copy, quick_check of shared_db = ok. The .OLD files are kept for rollback.
 *
 * Undo: stop the apps, put each DB.OLD back under its name (atomic rename over the link), keep
 * shared_db as shared_db.rolled-back-RUNID when the apps ran on it (reporting rows written meanwhile)
 * or remove it when they never did, and start the apps that were online.
 */
export const shareDbAction: ActionDef<ShareDbParams> = {
  name: 'share-db',
  summary: "move every env onto the host's shared_db (write freeze, consistent copy, atomic switch)",
  env: 'none',
  params,
  build(input) {
    const { params: p, host, runId } = input;
    if (isPgShare(host, p.envs)) return buildPgShareDb(input);
    if (!host.sharedDb) throw new PlanProblem(`host \`${host.name}\` has no \`shared_db\` in the inventory`, ['action']);
    const envs = dbEnvs(host, p.envs, ['app']);
    for (const e of envs) pm2App(e.app!, ['with', 'envs'], `env ${e.name}'s app in the inventory`);
    if (p.base !== 'auto' && !envs.some((e) => e.name === p.base))
      throw new PlanProblem(`\`base\` must be auto or one of ${envs.map((e) => e.name).join(', ')}`, ['with', 'base']);
    // Several databases per env (dbs:): each name onto its own shared file (share-dbs.ts).
    if (envs.some((e) => dbsOf(e).length > 1)) return shareDbsBody(input, envs);
    // Every command is one call of src/remote/share.sh: its own values first, then SD SHARED and
    // NAME DB APP HEALTH per env, each a quoted word.
    const tail = [quotePath(stepDir(input)), quotePath(host.sharedDb), ...envs.flatMap((e) => [shellQuote(e.name), quotePath(e.db), shellQuote(e.app!), shellQuote(e.health ?? '')])];
    const mig = [shellQuote(p.migrations_table), shellQuote(p.migrations_column)];
    const capture = call('bg_share_capture', ...tail);
    const freeze = call('bg_share_freeze', String(secs(p.release_timeout)), ...tail);
    const copy = call('bg_share_copy', shellQuote(p.base), p.same_schema ? '1' : '0', ...mig, ...tail);
    const switchAll = call('bg_share_switch', ...tail);
    // Behind the proxy (a color among these envs), HAProxy holds requests during the freeze.
    const proxy = host.proxy && envs.some((e) => host.proxy!.colors.includes(e.name)) ? host.proxy : undefined;
    const hold = proxy ? holdWindowMs(proxy) : 0;
    const restart = call('bg_share_restart', String(secs(p.wait)), String(hold), ...tail);
    const holdCheck =
      proxy && p.hold_check
        ? [{
            cmd: call('bg_share_hold_check', String(hold), String(Math.round(p.hold_margin * 100)), p.expected_freeze === 'auto' ? 'auto' : String(Math.round(p.expected_freeze)), quotePath(proxy.config), String(proxy.hold.retries), String(proxy.hold.connect_timeout_ms), quotePath(proxy.socket), ...envs.map((e) => quotePath(e.db))),
            label: `the proxy holds requests (${hold} ms) longer than the freeze is expected to take, with margin`,
          }]
        : [];
    const verifyOpen = call('bg_share_verify_open', ...tail);
    const verifyOld = call('bg_share_verify_old', ...tail);
    const undo = call('bg_share_undo', shellQuote(runId), String(secs(p.release_timeout)), String(secs(p.wait)), ...tail);
    // What the undo would discard: rows written to the shared database that the base's own
    // database (DB.OLD, which the undo puts back) lacks.
    const discardCheck = call('bg_share_discard', shellQuote(runId), ...mig, ...tail);
    // Pre-flight: the layout share-db starts from, and room for one copy of the largest database.
    const ready = call('bg_share_ready', ...tail.slice(1));
    const names = envs.map((e) => e.name).join(', ');
    return {
      mutates: true,
      preflight: [
        toolPresent('sqlite3'),
        ...envs.map((e) => databaseIntact(e.db)),
        ...envs.map((e) => pm2AppKnown(e.app!)),
        { cmd: ready, label: `${names}: own database files, no .OLD beside them, no ${host.sharedDb} yet, room for the copy` },
        ...holdCheck,
      ],
      discardCheck: [{ cmd: discardCheck, label: 'rows written to the shared database since the switch' }],
      capture: [{ cmd: capture, label: `record which apps of ${names} are online` }],
      run: [
        { cmd: freeze, label: `freeze writes: stop the apps of ${names}, wait until nothing has their databases open` },
        { cmd: copy, label: `same schema; pick the base${p.base === 'auto' ? '' : ` (${p.base})`}; consistent copy to ${host.sharedDb}` },
        { cmd: switchAll, label: `each env's database becomes a symlink to ${host.sharedDb} (old file kept as .OLD)` },
        { cmd: restart, label: `start the apps of ${names} again` },
      ],
      verify: [
        { cmd: verifyOpen, label: `every pm2 process of ${names} has ${host.sharedDb} open (/proc/PID/fd)`, retry: { attempts: 20, intervalMs: 500, factor: 1, maxIntervalMs: 500 } },
        { cmd: verifyOld, label: 'no process has an old database open; the old files are unchanged since the copy' },
      ],
      undo: [{ cmd: undo, label: `each env back on its own database (${names}); apps restarted` }],
    };
  },
};
