import { ExitCode, LockedError } from '../../errors.js';
import { readLock, removeLock } from '../../run/lock.js';
import { describeHolder, holderGone } from '../../run/run-meta.js';
import { liveSessions } from '../../run/sessions.js';
import { runDir } from '../../run/journal-layout.js';
import { withHosts, type HostArgs } from '../host-session.js';
import { multiLine } from '../sanitize.js';

export interface UnlockArgs extends HostArgs {
  force?: boolean;
  json?: boolean;
}

/** `bg unlock`: remove a lock whose run is gone (a dead bg process on this machine), or any lock with --force. */
export async function unlockCommand(args: UnlockArgs, write = (s: string) => process.stdout.write(s)): Promise<number> {
  // --json: one document at the end, [{ host, removed, lock, reason }]; a refusal is still exit 3 with its message.
  const report: Array<{ host: string; removed: boolean; lock: LockInfo | null; reason: 'not-locked' | 'holder-gone' | 'force' }> = [];
  const say = (s: string) => void (args.json || write(multiLine(s)));
  const code = await withHosts(args, async (hosts) => {
    for (const { name, config, transport } of hosts) {
      const lock = await readLock(transport, config.journal);
      if (!lock) {
        report.push({ host: name, removed: false, lock: null, reason: 'not-locked' });
        say(`${name}: not locked\n`);
        continue;
      }
      const gone = holderGone(lock);
      if (!gone && !args.force)
        throw new LockedError(name, `${describeHolder(lock)}\nthat run may still be going (it was not started from this machine, or its process is alive); if you are sure it is gone: bg unlock --host ${name} --force`);
      // Its bg process is gone, but commands whose connection died may still run on the host.
      const live = lock.runId ? await liveSessions(transport, runDir(config.journal, lock.runId)) : [];
      if (live.length && !args.force)
        throw new LockedError(name, `${describeHolder(lock)}\nits bg process is gone, but commands of that run still run on ${name}:\n  ${live.join('\n  ')}\nwait for them to end (or stop them); --force removes the lock anyway`);
      await removeLock(transport, config.journal);
      report.push({ host: name, removed: true, lock, reason: gone ? 'holder-gone' : 'force' });
      say(`${name}: removed the lock of ${describeHolder(lock)}${gone ? ' (its process is gone)' : ' (--force)'}\nIf that run was interrupted, bg history shows it and bg rollback --host ${name} --run ${lock.runId ?? 'ID'} undoes it.\n`);
    }
    return ExitCode.ok;
  });
  if (args.json) write(JSON.stringify(report, null, 2) + '\n');
  return code;
}

type LockInfo = NonNullable<Awaited<ReturnType<typeof readLock>>>;

