import { join } from 'node:path';
import { BgError, ExitCode, UsageError } from '../../errors.js';
import { BUILTIN_PLAYBOOKS } from '../package-info.js';
import { backupFileOf } from '../../plan/actions/restore.js';
import { DEFAULT_BACKUPS } from '../../plan/backup-paths.js';
import { resolveHost } from '../../plan/host-model.js';
import { joinPath, quotePath, shellQuote } from '../../plan/quote.js';
import { call } from '../../plan/sh-lib.js';
import { withHosts, type HostArgs } from '../host-session.js';
import { multiLine, oneLine } from '../sanitize.js';
import { runCommand } from './run.js';

export interface RestoreArgs extends HostArgs {
  env: string;
  backup: string;
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
  const named = backupFileOf(args.backup, args.env);
  if ('problem' in named) throw new UsageError(`--backup: ${named.problem}`);
  const discards = await withHosts(args, async (hosts) => {
    const found: Array<{ host: string; env: string; backup: string; discards: string }> = [];
    for (const { name, config, transport } of hosts) {
      const host = resolveHost(name, config);
      const env = Object.hasOwn(host.envs, args.env) ? host.envs[args.env] : undefined;
      if (!env) throw new UsageError(`host ${name} has no env ${JSON.stringify(args.env)} (it has: ${Object.keys(host.envs).join(', ') || 'no envs'})`);
      if (!env.db) throw new UsageError(`env ${args.env} of host ${name} has no \`db\` in the inventory: nothing to restore`);
      const file = joinPath((host.backups ?? DEFAULT_BACKUPS).dir, named.file);
      const r = await transport.exec(host.commandPrefix + discardsCommand(env.db, file), { timeoutMs: 120_000 });
      if (r.exitCode === 3) throw new UsageError(`no backup ${named.file} of env ${args.env} on ${name} (bg backups --host ${name} lists them)`);
      if (r.exitCode === 4) throw new UsageError(`${file} on ${name} is a symbolic link, not a backup bg wrote (bg writes backups as plain files): refusing to restore from wherever it points`);
      if (r.exitCode !== 0) throw new BgError(`cannot compare ${env.db} with ${file} on ${name}: ${multiLine(r.stderr.trim() || `exit ${r.exitCode}`)}`, ExitCode.stepFailed);
      if (r.stdout.trim()) found.push({ host: name, env: args.env, backup: file, discards: r.stdout.trim() });
    }
    return found;
  });
  for (const d of discards) {
    if (args.json) process.stdout.write(JSON.stringify({ type: 'discard', ...d }) + '\n');
    else process.stderr.write(`bg: ${oneLine(d.host)}: restoring ${oneLine(d.backup)} discards rows of ${d.env} written after it: ${oneLine(d.discards)}${args.acceptDataLoss ? ' (accepted: the database as it is now is kept aside)' : ''}\n`);
  }
  if (discards.length && !args.acceptDataLoss && !args.dryRun)
    throw new BgError(`restoring would discard the rows listed above; nothing was changed. Pass --accept-data-loss to restore anyway (the database as it is now is kept aside, and bg rollback puts it back)`, ExitCode.badInput);
  return runCommand({
    playbook: join(BUILTIN_PLAYBOOKS, 'commands', 'restore.yaml'),
    host: args.host,
    inventory: args.inventory,
    acceptNewHostKey: args.acceptNewHostKey,
    var: [`env=${args.env}`, `backup=${args.backup}`, `accept_data_loss=${args.acceptDataLoss ? 'true' : 'false'}`],
    dryRun: args.dryRun,
    json: args.json,
    ci: args.ci,
    lockWait: args.lockWait,
  });
}

/**
 * Exit 3 when the backup is not there, 4 when it is a symlink (bg writes backups as plain files: a
 * link is someone else's, and may point anywhere); else print the rows of the database that the
 * backup lacks (bg_restore_discards in src/remote/restore.sh).
 */
export function discardsCommand(db: string, backup: string): string {
  return call('bg_restore_discards', quotePath(db), quotePath(backup), shellQuote('migrations'));
}
