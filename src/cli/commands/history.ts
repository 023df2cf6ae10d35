import { listRuns, readSummaries, type RunSummary } from '../../run/journal-reader.js';
import { readLock } from '../../run/lock.js';
import { holderGone } from '../../run/run-meta.js';
import { shownOutcome } from '../../run/outcomes.js';
import { withHosts, type HostArgs } from '../host-session.js';
import { oneLine } from '../sanitize.js';

export interface HistoryArgs extends HostArgs {
  limit?: number;
  json?: boolean;
}

interface Row {
  host: string;
  run: string;
  playbook: string;
  started: string;
  duration: string;
  outcome: string;
  by: string;
}

/** `bg history`: the runs recorded on each host, newest last. */
export async function historyCommand(args: HistoryArgs): Promise<number> {
  const rows: Row[] = [];
  await withHosts(args, async (hosts) => {
    for (const { name, config, transport } of hosts) {
      const lock = await readLock(transport, config.journal);
      // A lock whose bg process is gone does not make its run "running".
      const runningId = lock && !holderGone(lock) ? lock.runId : undefined;
      // Newest last in the host's own order of runs (its sequence), not by the clock in the ids.
      const runs = (await listRuns(transport, config.journal)).slice(-(args.limit ?? 20));
      for (const s of await readSummaries(transport, config.journal, runs)) rows.push(row(name, s, runningId));
    }
  });
  if (args.json) process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
  else if (rows.length === 0) process.stdout.write('no runs recorded\n');
  else process.stdout.write(table(rows));
  return 0;
}

function row(host: string, s: RunSummary, lockedBy?: string): Row {
  const first = s.events[0]?.t;
  const ends = s.events.filter((e) => e.event === 'run-end');
  const end = ends.at(-1);
  const outcome = shownOutcome({ ...s, lastEnd: end?.detail }, lockedBy, { hint: true });
  const ms = first && end ? Date.parse(end.t) - Date.parse(first) : NaN;
  const secs = Number.isFinite(ms) ? ms / 1000 : undefined;
  return {
    host,
    run: s.id,
    playbook: s.meta?.playbook ?? '?',
    started: first ?? s.meta?.startedAt ?? '?',
    duration: secs === undefined ? '-' : `${secs}s`,
    outcome: ends.length > 1 ? `${outcome} (after ${ends[0]!.detail ?? '?'})` : outcome,
    by: [s.meta?.user, s.meta?.machine].filter(Boolean).join('@') + (s.meta?.ciUrl ? ` ${s.meta.ciUrl}` : ''),
  };
}

/** Every cell comes from the host's journal: one line each, control characters shown, never interpreted. */
function table(raw: Row[]): string {
  const rows = raw.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, oneLine(v)])) as unknown as Row);
  const cols: Array<keyof Row> = ['host', 'run', 'playbook', 'started', 'duration', 'outcome', 'by'];
  const width = Object.fromEntries(cols.map((c) => [c, Math.max(c.length, ...rows.map((r) => r[c].length))])) as Record<keyof Row, number>;
  const line = (r: Record<keyof Row, string>) => cols.map((c) => r[c].padEnd(width[c])).join('  ').trimEnd();
  return [line(Object.fromEntries(cols.map((c) => [c, c.toUpperCase()])) as Record<keyof Row, string>), ...rows.map(line)].join('\n') + '\n';
}
