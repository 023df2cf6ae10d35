import { BgError, ExitCode } from '../errors.js';
import { joinPath, quotePath, shellQuote } from '../plan/quote.js';
import type { Transport } from '../transport/transport.js';
import type { JournaledRun } from './journal.js';
import { parseLog, type LoggedEvent } from './journal-state.js';
import type { RunMeta } from './run-meta.js';

export interface RunSummary {
  id: string;
  meta?: Partial<RunMeta>;
  events: LoggedEvent[];
}

const RUN_ID = /^\d{8}T\d{6}(\.\d{3})?Z-[0-9a-f]+$/;

/** Run ids recorded on a host, oldest first. */
export async function listRunIds(transport: Transport, journalDir: string): Promise<string[]> {
  const r = await transport.exec(`ls -1 ${quotePath(joinPath(journalDir, 'runs'))} 2>/dev/null | sort`);
  return r.stdout.split('\n').filter((l) => RUN_ID.test(l));
}

/** meta.json and log of the last `limit` runs, in one round trip. */
export async function readSummaries(transport: Transport, journalDir: string, limit: number): Promise<RunSummary[]> {
  const ids = (await listRunIds(transport, journalDir)).slice(-limit);
  if (ids.length === 0) return [];
  const runs = quotePath(joinPath(journalDir, 'runs'));
  const script = `cd ${runs} && for id in ${ids.map(shellQuote).join(' ')}; do echo "@@run $id"; cat "$id/meta.json" 2>/dev/null; echo "@@log"; cat "$id/log" 2>/dev/null; done`;
  const r = await transport.exec(script);
  return r.stdout
    .split('@@run ')
    .slice(1)
    .map((chunk) => {
      const [head = '', log = ''] = chunk.split('@@log');
      const [id = '', ...metaLines] = head.split('\n');
      let meta: Partial<RunMeta> | undefined;
      try {
        meta = JSON.parse(metaLines.join('\n')) as Partial<RunMeta>;
      } catch {
        meta = undefined;
      }
      return { id: id.trim(), meta, events: parseLog(log) };
    });
}

/** run.json and the log of one run. */
export async function readRun(transport: Transport, journalDir: string, id: string): Promise<{ doc: JournaledRun; events: LoggedEvent[] }> {
  const dir = quotePath(joinPath(journalDir, `runs/${id}`));
  const r = await transport.exec(`cat ${dir}/run.json && echo @@log && cat ${dir}/log`);
  if (r.exitCode !== 0) throw new BgError(`run ${id} has no readable journal on ${transport.host} (${joinPath(journalDir, `runs/${id}`)}): ${r.stderr.trim()}`, ExitCode.badInput);
  const [json = '', log = ''] = r.stdout.split('@@log');
  return { doc: JSON.parse(json) as JournaledRun, events: parseLog(log) };
}
