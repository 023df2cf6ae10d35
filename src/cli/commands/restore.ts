import { basename, join } from 'node:path';
import { BgError, ExitCode, UsageError } from '../../errors.js';
import { BUILTIN_PLAYBOOKS } from '../package-info.js';
import { backupFileOf } from '../../plan/actions/restore.js';
import { pgBackupFileOf } from '../../plan/actions/restore-pg.js';
import { pgConnWords } from '../../plan/actions/pg-common.js';
import { backupFileName, DEFAULT_BACKUPS } from '../../plan/backup-paths.js';
import { dbsOf, resolveHost } from '../../plan/host-model.js';
import { joinPath, quotePath, shellQuote } from '../../plan/quote.js';
import { call } from '../../plan/sh-lib.js';
import { checkLocalCopy, CopyFailure, localPath, uploadCopy, type LocalCopy } from '../../run/offhost.js';
import type { Transport } from '../../transport/transport.js';
import { withHosts, withHostSecrets, type HostArgs } from '../host-session.js';
import { multiLine, oneLine } from '../sanitize.js';
import { runCommand } from './run.js';

export interface RestoreArgs extends HostArgs {
  env: string;
  /** With several databases per env (`dbs:`): only this one. */
  db?: string;
  /** A backup on the host: run id or file name. */
  backup?: string;
  /** Or a copy on this machine (backup's copy_to): sent to the host's backups dir first. */
  fromLocal?: string;
  dryRun?: boolean;
  acceptDataLoss?: boolean;
  json?: boolean;
  ci?: boolean;
  lockWait?: number;
}

/**
 * `bg restore`: bg's own `restore` playbook (playbooks/commands/restore.yaml) run like `bg run
 * playbooks/commands/restore.yaml --var env=E --var backup=ID`, so it takes the lock, journals, verifies and `bg rollback` undoes
 * it. First, read-only: the backup must be one of the env's on every host (else exit 2), and
 * what restoring would discard is shown (exit 2 without --accept-data-loss). The restore step
 * checks that again with the app stopped, under the lock.
 */
export async function restoreCommand(args: RestoreArgs): Promise<number> {
  const { id, local } = whichBackup(args);
  // A `.pgdump` name is a PostgreSQL env's backup (checked against the env below); a run id fits both.
  const named = id.endsWith('.pgdump') ? pgBackupFileOf(id, args.env) : backupFileOf(id, args.env);
  if ('problem' in named) throw new UsageError(`--backup: ${named.problem}`);
  if (local && args.db !== undefined) throw new UsageError('--db restores a backup on the host: give --backup RUNID with it (--from-local sends the default database\'s copy)');
  const sent: string[] = [];
  const discards = await withHosts(args, async (hosts) => {
    const found: Array<{ host: string; env: string; backup: string; discards: string }> = [];
    for (const { name, config, transport } of hosts) {
      const host = resolveHost(name, config);
      const env = Object.hasOwn(host.envs, args.env) ? host.envs[args.env] : undefined;
      if (!env) throw new UsageError(`host ${name} has no env ${JSON.stringify(args.env)} (it has: ${Object.keys(host.envs).join(', ') || 'no envs'})`);
      if (!env.db && !env.pg) throw new UsageError(`env ${args.env} of host ${name} has no \`db\` in the inventory: nothing to restore`);
      const dir = (host.backups ?? DEFAULT_BACKUPS).dir;
      if (env.pg && id.endsWith('.db')) throw new UsageError(`--backup ${oneLine(id)}: env ${args.env} of host ${name} is a PostgreSQL database; its backups are named ${args.env}-RUNID.pgdump`);
      if (!env.pg && named.file.endsWith('.pgdump')) throw new UsageError(`--backup ${oneLine(id)}: env ${args.env} of host ${name} is a SQLite database; a .pgdump is a PostgreSQL env's backup`);
      if (env.pg && args.db !== undefined) throw new UsageError(`--db: env ${args.env} of host ${name} is a PostgreSQL database, one per env (--db names one of a dbs: env's SQLite files)`);
      // --db: that database's backup of the run (`dbs:`); the others of the env are checked in the step, with the app stopped.
      const dbIndex = env.pg || args.db === undefined ? 0 : dbsOf(env).findIndex((d) => d.name === args.db);
      if (dbIndex < 0) throw new UsageError(`--db: env ${args.env} of host ${name} has no database ${JSON.stringify(args.db)} (it has: ${dbsOf(env).map((d) => d.name).join(', ')})`);
      const file = env.pg ? joinPath(dir, `${args.env}-${named.runId}.pgdump`) : dbIndex === 0 ? joinPath(dir, named.file) : joinPath(dir, backupFileName(args.env, named.runId, dbsOf(env)[dbIndex]!.name));
      // A copy from this machine goes into the backups dir first; the restore below is the same.
      if (local) {
        const state = await sendLocalCopy(transport, host.name, local, dir, file, host.commandPrefix, args, sent);
        if (state === 'uploaded') sent.push(`${host.name}:${file}`);
        if (state === 'not-there') continue;
        // A dump comes back without the counts and schema recorded beside it when taken: a scratch restore records them (and verifies it).
        if (env.pg && state === 'uploaded') {
          const v = await withHostSecrets({ name, config, transport }).exec(host.commandPrefix + call('bg_pg_backup_verify', ...pgConnWords(env.pg), quotePath(file), shellQuote('migrations'), shellQuote('name'), 'record'), { timeoutMs: 3_600_000 });
          if (v.exitCode !== 0) throw new BgError(`${oneLine(`${file} on ${name} does not restore into a scratch database`)}: ${multiLine(v.stderr.trim() || `exit ${v.exitCode}`)}; no database was changed`, ExitCode.stepFailed);
        }
      }
      // Accepted: the step compares again with the app stopped and reports what it discards; on
      // PostgreSQL the comparison is a scratch restore plus a read of every row, so it runs only there.
      if (env.pg && args.acceptDataLoss && !args.dryRun) continue;
      // Every database the restore touches (dbs: without --db: the others too, when that run backed
      // them up), each compared with its backup; a PostgreSQL env's one database needs its password
      // (on stdin, as every secret) and a scratch restore of the dump.
      const targets = env.pg
        ? [{ what: `the database of env ${args.env}`, file, optional: false, cmd: pgDiscardsCommand(env.pg, file) }]
        : [
            { path: dbsOf(env)[dbIndex]!.path, file, optional: false },
            ...(args.db === undefined ? dbsOf(env).slice(1).map((d) => ({ path: d.path, file: joinPath(dir, backupFileName(args.env, named.runId, d.name)), optional: true })) : []),
          ].map((t) => ({ what: t.path, file: t.file, optional: t.optional, cmd: discardsCommand(t.path, t.file) }));
      const on = env.pg ? withHostSecrets({ name, config, transport }) : transport;
      for (const t of targets) {
        const r = await on.exec(host.commandPrefix + t.cmd, { timeoutMs: env.pg ? 600_000 : 120_000 });
        if (r.exitCode === 3 && t.optional) continue;
        if (r.exitCode === 3) throw new UsageError(`no backup ${basename(t.file)} of env ${args.env} on ${name} (bg backups --host ${name} lists them)`);
        if (r.exitCode === 4) throw new UsageError(`${t.file} on ${name} is a symbolic link, not a backup bg wrote (bg writes backups as plain files): refusing to restore from wherever it points`);
        if (r.exitCode !== 0) throw new BgError(`cannot compare ${t.what} with ${t.file} on ${name}: ${multiLine(r.stderr.trim() || `exit ${r.exitCode}`)}`, ExitCode.stepFailed);
        if (r.stdout.trim()) found.push({ host: name, env: args.env, backup: t.file, discards: r.stdout.trim() });
      }
    }
    return found;
  });
  for (const d of discards) {
    if (args.json) process.stdout.write(JSON.stringify({ type: 'discard', ...d }) + '\n');
    else process.stderr.write(`bg: ${oneLine(d.host)}: restoring ${oneLine(d.backup)} discards rows of ${d.env} written after it: ${oneLine(d.discards)}${args.acceptDataLoss ? ' (accepted: the database as it is now is kept aside)' : ''}\n`);
  }
  if (discards.length && !args.acceptDataLoss && !args.dryRun)
    throw new BgError(`restoring would discard the rows listed above; ${unchanged(sent)}. Pass --accept-data-loss to restore anyway (the database as it is now is kept aside, and bg rollback puts it back)`, ExitCode.badInput);
  return runCommand({
    playbook: join(BUILTIN_PLAYBOOKS, 'commands', 'restore.yaml'),
    host: args.host,
    inventory: args.inventory,
    acceptNewHostKey: args.acceptNewHostKey,
    var: [`env=${args.env}`, `backup=${named.runId}`, `accept_data_loss=${args.acceptDataLoss ? 'true' : 'false'}`, `db=${args.db ?? ''}`],
    dryRun: args.dryRun,
    json: args.json,
    ci: args.ci,
    lockWait: args.lockWait,
  });
}

/** The backup named by --backup, or by the file name of --from-local (checked against its FILE.sha256 here, before connecting: exit 2). */
function whichBackup(args: RestoreArgs): { id: string; local?: LocalCopy } {
  if (args.backup !== undefined && args.fromLocal !== undefined) throw new UsageError('give --backup (a backup on the host) or --from-local (a copy on this machine), not both');
  if (args.fromLocal === undefined) {
    if (args.backup === undefined) throw new UsageError('give --backup ID (a backup on the host, as bg backups lists it) or --from-local FILE (a copy on this machine)');
    return { id: args.backup };
  }
  const name = basename(args.fromLocal);
  const named = name.endsWith('.pgdump') ? pgBackupFileOf(name, args.env) : backupFileOf(name, args.env);
  if ('problem' in named || !/\.(db|pgdump)$/.test(name)) throw new UsageError(`--from-local ${oneLine(args.fromLocal)}: not a copy of env ${args.env} as bg names them (${args.env}-RUNID.db, or ${args.env}-RUNID.pgdump for PostgreSQL, as bg backups lists it)`);
  const local = checkLocalCopy(localPath(args.fromLocal));
  if ('problem' in local) throw new UsageError(`--from-local ${oneLine(args.fromLocal)}: ${oneLine(local.problem)}; nothing was sent or changed`);
  return { id: name, local };
}

/**
 * Put a checked local copy into a host's backups dir (not under the lock: it only adds a file bg
 * names, never replaces one). `not-there` on a dry run when the host lacks it (nothing to compare
 * with yet). A different file under that name is refused (exit 2), nothing changed.
 */
async function sendLocalCopy(transport: Transport, hostName: string, local: LocalCopy, dir: string, file: string, prefix: string, args: RestoreArgs, sent: string[]): Promise<'present' | 'uploaded' | 'not-there'> {
  const refuse = () => new UsageError(oneLine(`${file} on ${hostName} is another file than ${local.path} (sha256 ${local.sha256}): refusing to replace it; ${unchanged(sent)}`));
  const say = (state: string, text: string) => {
    if (args.json) process.stdout.write(JSON.stringify({ type: 'upload', host: hostName, local: local.path, remote: file, sha256: local.sha256, state }) + '\n');
    else process.stderr.write(`bg: ${oneLine(hostName)}: ${oneLine(text)}\n`);
  };
  if (args.dryRun) {
    const r = await transport.exec(prefix + call('bg_offhost_has', quotePath(file), local.sha256), { timeoutMs: 600_000 });
    if (r.exitCode === 4) throw refuse();
    if (r.exitCode === 0) return 'present';
    if (r.exitCode !== 3) throw new BgError(`${oneLine(`cannot look for ${file} on ${hostName}`)}: ${multiLine(r.stderr.trim() || `exit ${r.exitCode}`)}`, ExitCode.stepFailed);
    say('would-upload', `would send ${local.path} (${local.size} bytes, sha256 ${local.sha256}) to ${file} first (dry run: not sent)`);
    return 'not-there';
  }
  let up;
  try {
    up = await uploadCopy(transport, local, dir, file, prefix);
  } catch (e) {
    const r = e instanceof CopyFailure ? e.result : undefined;
    throw new BgError(`${oneLine(`sending ${local.path} to ${hostName}:${file} failed: ${(e as Error).message}`)}${r?.stderr.trim() ? `: ${multiLine(r.stderr.trim().split('\n').slice(-3).join('\n'))}` : ''}`, ExitCode.stepFailed);
  }
  if (up.state === 'different') throw refuse();
  say(up.state, up.state === 'present' ? `${file} is already there (same sha256 as ${local.path})` : `sent ${local.path} to ${file} (${local.size} bytes, sha256 ${local.sha256} checked on the host)`);
  return up.state === 'present' ? 'present' : 'uploaded';
}

/** What a refusal left behind: nothing, or the copies already sent to earlier hosts (they stay). */
function unchanged(sent: string[]): string {
  return sent.length ? `no database was changed (the copy sent to ${sent.join(', ')} stays there, listed by bg backups)` : 'nothing was changed';
}

/**
 * Exit 3 when the backup is not there, 4 when it is a symlink (bg writes backups as plain files: a
 * link is someone else's, and may point anywhere); else print the rows of the database that the
 * backup lacks (bg_restore_discards in src/remote/restore.sh).
 */
export function discardsCommand(db: string, backup: string): string {
  return call('bg_restore_discards', quotePath(db), quotePath(backup), shellQuote('migrations'));
}

/** The same for a PostgreSQL env (bg_pg_restore_discards in src/remote/pg-restore.sh: a scratch restore of the dump, rows compared by content). */
export function pgDiscardsCommand(pg: NonNullable<ReturnType<typeof resolveHost>['envs'][string]['pg']>, backup: string): string {
  return call('bg_pg_restore_discards', ...pgConnWords(pg), quotePath(backup), shellQuote('migrations'));
}
