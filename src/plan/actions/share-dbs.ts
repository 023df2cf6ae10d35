// share-db with several databases per env (`dbs:`): every database name moves onto its own shared
// file in one freeze. The default databases go to `shared_db` as before; another database NAME to
// `shared_db`'s sibling (sharedDbPath). Each name keeps its own state directory under the step's,
// so the shell of share.sh runs per name; the apps are stopped once and started once.
import { PlanProblem, type ActionInput, type StepBody } from '../action.js';
import { holdWindowMs } from '../haproxy-config.js';
import { dbsOf } from '../host-model.js';
import { pm2AppKnown } from '../pm2-sh.js';
import { databaseIntact, toolPresent } from '../preflight.js';
import { joinPath, quotePath, shellQuote } from '../quote.js';
import { call } from '../sh-lib.js';
import { stepDir } from '../step-dir.js';
import type { DbEnv } from './db-common.js';
import { dbGroups } from './db-names.js';
import type { ShareDbParams } from './share-db.js';

/** The shared file of database NAME: `shared.db` -> `shared.NAME.db` (`shared` -> `shared.NAME`), beside `shared_db`. */
export function sharedDbPath(sharedDb: string, name: string): string {
  return /\.db$/.test(sharedDb) ? `${sharedDb.slice(0, -3)}.${name}.db` : `${sharedDb}.${name}`;
}

const secs = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/** The step for envs with several databases: share.sh's calls once per database name, the freeze and restart once. */
export function shareDbsBody(input: ActionInput<ShareDbParams>, envs: DbEnv[]): StepBody {
  const { params: p, host, runId } = input;
  const sharedDb = host.sharedDb!;
  const { shared, partial } = dbGroups(envs);
  const lacking = partial[0];
  if (lacking) throw new PlanProblem(`database \`${lacking.name}\` is in ${lacking.has.join(', ')} but not in ${lacking.lacks.join(', ')}: share-db moves every env's database of each name onto one file`, p.envs ? ['with', 'envs'] : ['action']);
  const sd = stepDir(input);
  // The default databases keep the step's own directory and shared_db (as with one database).
  const groups = shared.map((g, i) => {
    const dir = i === 0 ? sd : joinPath(sd, `db-${g.name}`);
    const file = i === 0 ? sharedDb : sharedDbPath(sharedDb, g.name);
    const tail = [quotePath(dir), quotePath(file), ...g.dbs.flatMap((d) => [shellQuote(d.env.name), quotePath(d.path), shellQuote(d.env.app!), shellQuote(d.env.health ?? '')])];
    return { name: g.name, dir, file, tail };
  });
  const first = groups[0]!;
  const mig = [shellQuote(p.migrations_table), shellQuote(p.migrations_column)];
  const proxy = host.proxy && envs.some((e) => host.proxy!.colors.includes(e.name)) ? host.proxy : undefined;
  const hold = proxy ? holdWindowMs(proxy) : 0;
  const allDbs = envs.flatMap((e) => dbsOf(e).map((d) => d.path));
  const names = envs.map((e) => e.name).join(', ');
  const each = (g: (typeof groups)[number]) => (groups.length > 1 ? ` (${g.name} -> ${g.file})` : '');
  const undo = [
    call('bg_undo_if', quotePath(joinPath(first.dir, 'apps')), shellQuote('nothing to undo: share-db never started')),
    ...groups.map((g) => call('bg_share_group_undo_stop', String(secs(p.release_timeout)), ...g.tail)),
    ...groups.map((g) => call('bg_share_group_undo_files', shellQuote(runId), ...g.tail)),
    call('bg_share_group_undo_start', String(secs(p.wait)), ...first.tail),
  ].join('\n');
  return {
    mutates: true,
    preflight: [
      toolPresent('sqlite3'),
      ...allDbs.map((db) => databaseIntact(db)),
      ...envs.map((e) => pm2AppKnown(e.app!)),
      ...groups.map((g) => ({ cmd: call('bg_share_ready', ...g.tail.slice(1)), label: `${names}: own ${g.name} database files, no .OLD beside them, no ${g.file} yet, room for the copy` })),
      ...(proxy && p.hold_check
        ? [{
            cmd: call('bg_share_hold_check', String(hold), String(Math.round(p.hold_margin * 100)), p.expected_freeze === 'auto' ? 'auto' : String(Math.round(p.expected_freeze)), quotePath(proxy.config), String(proxy.hold.retries), String(proxy.hold.connect_timeout_ms), quotePath(proxy.socket), ...allDbs.map(quotePath)),
            label: `the proxy holds requests (${hold} ms) longer than the freeze is expected to take, with margin`,
          }]
        : []),
    ],
    discardCheck: groups.map((g) => ({ cmd: call('bg_share_discard', shellQuote(runId), ...mig, ...g.tail), label: `rows written to ${g.file} since the switch` })),
    capture: groups.map((g) => ({ cmd: call('bg_share_capture', ...g.tail), label: `record which apps of ${names} are online${each(g)}` })),
    run: [
      // The first call stops the apps and waits for its databases; each later one finds them stopped and waits for its own.
      ...groups.map((g) => ({ cmd: call('bg_share_freeze', String(secs(p.release_timeout)), ...g.tail), label: `freeze writes: stop the apps of ${names}, wait until nothing has their ${g.name} databases open` })),
      ...groups.map((g) => ({ cmd: call('bg_share_copy', shellQuote(p.base), p.same_schema ? '1' : '0', ...mig, ...g.tail), label: `same schema; pick the base${p.base === 'auto' ? '' : ` (${p.base})`}; consistent copy of the ${g.name} databases to ${g.file}` })),
      ...groups.map((g) => ({ cmd: call('bg_share_switch', ...g.tail), label: `each env's ${g.name} database becomes a symlink to ${g.file} (old file kept as .OLD)` })),
      { cmd: call('bg_share_mark_started', ...groups.slice(1).map((g) => quotePath(g.dir))), label: 'record that the apps start on the shared files' },
      { cmd: call('bg_share_restart', String(secs(p.wait)), String(hold), ...first.tail), label: `start the apps of ${names} again` },
    ],
    verify: [
      // Apps may open their other databases only when they need them: the open check is on the default's shared file.
      { cmd: call('bg_share_verify_open', ...first.tail), label: `every pm2 process of ${names} has ${first.file} open (/proc/PID/fd)`, retry: { attempts: 20, intervalMs: 500, factor: 1, maxIntervalMs: 500 } },
      ...groups.map((g) => ({ cmd: call('bg_share_verify_old', ...g.tail), label: `no process has an old ${g.name} database open; the old files are unchanged since the copy` })),
    ],
    undo: [{ cmd: undo, label: `each env back on its own databases (${names}); apps stopped once, restarted` }],
  };
}
