import { ExitCode, LockedError } from '../../errors.js';
import { readLock, removeLock } from '../../run/lock.js';
import { describeHolder, holderGone } from '../../run/run-meta.js';
import { liveSessions } from '../../run/sessions.js';
import { joinPath } from '../../plan/quote.js';
import { withHosts, type HostArgs } from '../host-session.js';

export interface UnlockArgs extends HostArgs {
  force?: boolean;
}

/** `bg unlock`: remove a lock whose run is gone (a dead bg process on this machine), or any lock with --force. */
export async function unlockCommand(args: UnlockArgs): Promise<number> {
  return withHosts(args, async (hosts) => {
    for (const { name, config, transport } of hosts) {
      const lock = await readLock(transport, config.journal);
      if (!lock) {
        process.stdout.write(`${name}: not locked\n`);
        continue;
      }
      const gone = holderGone(lock);
      if (!gone && !args.force)
        throw new LockedError(name, `${describeHolder(lock)}\nthat run may still be going (it was not started from this machine, or its process is alive); if you are sure it is gone: bg unlock --host ${name} --force`);
      // Its bg process is gone, but commands whose connection died may still run on the host.
      const live = lock.runId ? await liveSessions(transport, joinPath(config.journal, `runs/${lock.runId}`)) : [];
      if (live.length && !args.force)
        throw new LockedError(name, `${describeHolder(lock)}\nits bg process is gone, but commands of that run still run on ${name}:\n  ${live.join('\n  ')}\nwait for them to end (or stop them); --force removes the lock anyway`);
      await removeLock(transport, config.journal);
      process.stdout.write(`${name}: removed the lock of ${describeHolder(lock)}${gone ? ' (its process is gone)' : ' (--force)'}\nIf that run was interrupted, bg history shows it and bg rollback --host ${name} --run ${lock.runId ?? 'ID'} undoes it.\n`);
    }
    return ExitCode.ok;
  });
}

