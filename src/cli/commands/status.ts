import { resolveHost } from '../../plan/host-model.js';
import { envStatusCommand } from '../../plan/status-sh.js';
import { listRuns, readSummaries } from '../../run/journal-reader.js';
import { readLock } from '../../run/lock.js';
import { describeHolder, holderGone } from '../../run/run-meta.js';
import { lastStep, shownOutcome } from '../../run/outcomes.js';
import { withHosts, withHostSecrets, type HostArgs } from '../host-session.js';
import { multiLine } from '../sanitize.js';
import { readProxyState, type ProxyState } from '../../run/proxy-state.js';
import { dbsOf } from '../../plan/host-model.js';

export interface StatusArgs extends HostArgs {
  json?: boolean;
}

type Facts = Record<string, string[]>;

/** `bg status`: envs, pm2 state, database paths and symlinks, schema fingerprints, health, lock, last run. */
export async function statusCommand(args: StatusArgs, write = (s: string) => process.stdout.write(s)): Promise<number> {
  const report: unknown[] = [];
  await withHosts(args, async (hosts) => {
    for (const { name, config, transport } of hosts) {
      const host = resolveHost(name, config);
      // A PostgreSQL env's facts need its password: the host's secret vars travel on stdin, as in a run.
      const envTransport = Object.values(host.envs).some((e) => e.pg) ? withHostSecrets({ name, config, transport }) : transport;
      const [proxy, lock, runs, ...envFacts] = await Promise.all([
        readProxyState(transport, name, config),
        readLock(transport, config.journal),
        listRuns(transport, config.journal).then((all) => readSummaries(transport, config.journal, all.slice(-1))),
        ...Object.values(host.envs).map(async (env) => ({ env, facts: parseFacts((await envTransport.exec(envStatusCommand(env, host.commandPrefix))).stdout) })),
      ]);
      const last = runs[0];
      const lastOutcome = last && shownOutcome({ ...last, lastEnd: last.events.filter((e) => e.event === 'run-end').at(-1)?.detail }, lock && !holderGone(lock) ? lock.runId : undefined);
      report.push({ host: name, target: host.target, ...(proxy ? { proxy: { live: proxy.live ?? null, preview: proxy.preview ?? null, maintenance: proxy.maintenance ?? false, runtimeLive: proxy.socketLive ?? null, mapFileLive: proxy.fileLive ?? null, socketError: proxy.socketError ?? null, lastSwitch: proxy.switched ?? null } } : {}), lock: lock ?? null, lastRun: last ? { id: last.id, playbook: last.meta?.playbook, outcome: lastOutcome, lastStep: lastStepOf(last.events) ?? null } : null, envs: Object.fromEntries(envFacts.map(({ env, facts }) => [env.name, { dir: env.dir, app: env.app, db: env.db, ...facts, ...(facts.dbs ? { dbs: facts.dbs.map(otherDb).filter((d) => d !== undefined) } : {}) }])) });
      if (args.json) continue;
      const out = [`${name} (${host.target})`, `  lock: ${lock ? `held by ${describeHolder(lock)}` : 'free'}`];
      if (proxy && config.proxy) out.push(`  ${describeProxy(proxy, config.proxy.live_port, config.proxy.preview_port)}`);
      if (last) out.push(`  last run: ${last.id} ${last.meta?.playbook ?? ''} — ${lastOutcome}`);
      for (const { env, facts } of envFacts) {
        const one = (k: string) => facts[k]?.[0];
        const isLive = proxy?.live === env.name ? ' [LIVE]' : proxy?.live && config.proxy?.colors.includes(env.name) ? ' [idle]' : '';
        out.push(`  ${env.name}: ${env.dir}${one('dir') === 'missing' ? ' (MISSING)' : ''}${isLive}`);
        if (one('release')) out.push(`    release ${one('release')}: ${[one('release_ref') && `ref ${one('release_ref')}`, one('release_commit') && `commit ${one('release_commit')!.slice(0, 12)}`, one('release_source') && `from ${one('release_source')}`].filter(Boolean).join(', ')}; deployed ${one('release_deployed')}`);
        if (env.app) {
          const procs = (facts.pm2 ?? []).map((p) => p.split(' ')).map(([pid, status, restarts]) => `${status} pid ${pid}, ${restarts} restarts`);
          out.push(`    app ${env.app}: ${facts.pm2_error ? `? (${one('pm2_error')})` : procs.length ? procs.join('; ') : 'not known to pm2'}`);
        }
        if (env.db) {
          const where = one('link') ? `${env.db} -> ${one('link')}${one('real') && one('real') !== one('link') ? ` (${one('real')})` : ''}` : env.db;
          const size = one('size') ? mb(Number(one('size'))) : undefined;
          const schema = schemaFact(one);
          out.push(`    db ${dbsOf(env).length > 1 ? `${dbsOf(env)[0]!.name} ` : ''}${where}${one('db') === 'missing' ? ' (MISSING)' : ''}${[size, schema, one('sqlite3') && `sqlite3 ${one('sqlite3')}`].filter(Boolean).map((s) => `, ${s}`).join('')}`);
          // The env's other databases (`dbs:`): "NAME SIZE|missing CHECK PATH".
          for (const d of (facts.dbs ?? []).map(otherDb)) {
            if (d) out.push(`    db ${d.name} ${d.path}${d.size === null ? ' (MISSING)' : `, ${mb(d.size)}, quick_check ${d.quickCheck}`}`);
          }
        }
        if (env.pg) {
          const size = one('pg_size') ? mb(Number(one('pg_size'))) : undefined;
          const schema = schemaFact(one);
          out.push(`    db ${one('pg') ?? 'postgres'}${one('pg_error') ? `: cannot connect (${one('pg_error')})` : [size, schema].filter(Boolean).map((s) => `, ${s}`).join('')}`);
        }
        if (env.health) out.push(`    health ${env.health}: ${one('health') === '000' ? 'no answer' : `HTTP ${one('health')}`}`);
      }
      const prints = new Set(envFacts.map((e) => e.facts.fingerprint?.[0]).filter(Boolean));
      if (envFacts.filter((e) => e.facts.fingerprint).length > 1) out.push(`  schemas: ${prints.size === 1 ? 'the same in every env' : 'DIFFER (bg run drift shows how)'}`);
      // Lock holder, run meta, pm2 and link facts come from the host: shown, never interpreted by the terminal.
      write(multiLine(out.join('\n')) + '\n');
    }
  });
  if (args.json) write(JSON.stringify(report, null, 2) + '\n');
  return 0;
}

/** The last step's outcome as the host journaled it (JSON: without the words). */
function lastStepOf(events: Parameters<typeof lastStep>[0]) {
  const s = lastStep(events);
  if (!s) return undefined;
  const { words: _words, ...rest } = s;
  return rest;
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/** The schema facts of an env's database (bg_env_status, bg_pg_status): fingerprint and migrations, or why they could not be read. */
function schemaFact(one: (k: string) => string | undefined): string | undefined {
  return one('fingerprint') ? `schema ${one('fingerprint')}, ${one('migrations')} migrations` : one('fingerprint_error') ? `schema ? (${one('fingerprint_error')})` : undefined;
}

/** One of the env's other databases (`dbs:`), from bg_dbs_status's `NAME SIZE|missing CHECK PATH`: size null when the file is missing. */
function otherDb(line: string): { name: string; path: string; size: number | null; quickCheck: string | null } | undefined {
  const m = /^(\S+) (\S+) (\S+) (.*)$/.exec(line);
  if (!m) return undefined;
  const missing = m[2] === 'missing';
  return { name: m[1]!, path: m[4]!, size: missing ? null : Number(m[2]), quickCheck: missing ? null : m[3]! };
}

function parseFacts(text: string): Facts {
  const facts: Facts = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) (facts[line.slice(0, i)] ??= []).push(line.slice(i + 1));
  }
  return facts;
}

/** One line: which color is live (and preview), and where that was read; a map file that disagrees is named. */
function describeProxy(p: ProxyState, livePort: number, previewPort: number): string {
  if (p.maintenance) return `proxy: MAINTENANCE WINDOW OPEN — both public ports (:${livePort}, :${previewPort}) answer the maintenance 503${p.switched ? ` since ${p.switched.at}` : ''} (bg rollback of the run that opened it, or bg switch --to COLOR, ends it)`;
  if (!p.live) return `proxy: live ? (${p.socketError ?? (p.fileMissing ? 'no map file: bg run proxy writes it' : 'the map names no color')})`;
  const where = p.socketLive ? 'HAProxy runtime map' : `map file; HAProxy not answering: ${p.socketError}`;
  const drift = p.socketLive && p.fileLive && p.fileLive !== p.socketLive ? `; MAP FILE SAYS ${p.fileLive} (a restart would switch)` : '';
  const since = p.switched ? `, switched to ${p.switched.color} at ${p.switched.at}` : '';
  return `proxy: live ${p.live} (:${livePort}), preview ${p.preview} (:${previewPort}) — from the ${where}${drift}${since}`;
}
