import { joinPath, quotePath, shellQuote } from '../plan/quote.js';
import type { Transport } from '../transport/transport.js';
import { framedRead, type FramedRecord } from './framed-read.js';
import type { JournaledRun } from './journal.js';
import { parseMeta, parseRunJson, parseSeq, RUN_ID } from './journal-schema.js';
import { parseLog, type LoggedEvent } from './journal-state.js';
import type { RunMeta } from './run-meta.js';
import { RUN_FILES, runEntry, runsDir, type RunFile } from './journal-layout.js';
import { JOURNAL_STATE } from './outcomes.js';

/** A run directory on the host, as listed: its place in the host's order and whether it has a journal. */
export interface RunRef {
  id: string;
  /** The host's sequence number (see Journal.start); absent for runs recorded before sequences. */
  seq?: number;
  /** run.json exists. Without it the run never changed the host: run.json is written before the first step. */
  hasJournal: boolean;
  /** Why the run's place in the order cannot be known (a damaged seq file), naming the file. */
  problem?: string;
}

export interface RunSummary {
  id: string;
  seq?: number;
  meta?: RunMeta;
  events: LoggedEvent[];
  hasJournal: boolean;
  /** What is wrong with its files (host:path: reason), when something is: shown, never fatal. */
  problem?: string;
}

/** One run read back whole, for bg rollback. */
export type RunRead =
  | { id: string; state: typeof JOURNAL_STATE.ok; doc: JournaledRun; events: LoggedEvent[] }
  /** No run.json and no step in the log: it never started changing the host. */
  | { id: string; state: typeof JOURNAL_STATE.noJournal }
  /** Damaged: `problem` names the file (host:path) and what is wrong with it. */
  | { id: string; state: typeof JOURNAL_STATE.corrupt; problem: string };

/**
 * Oldest first, in the host's own order: runs recorded before sequences (by id, i.e. by the clock
 * of whoever started them), then sequenced runs by sequence number, then runs whose sequence
 * file is damaged (their place is unknown; bg rollback treats them as possibly later).
 */
export function orderRuns(runs: RunRef[]): RunRef[] {
  const rank = (r: RunRef) => (r.problem ? 2 : r.seq === undefined ? 0 : 1);
  return [...runs].sort((a, b) => rank(a) - rank(b) || (a.seq ?? 0) - (b.seq ?? 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** The runs recorded on a host, oldest first (see orderRuns), in one round trip. */
export async function listRuns(transport: Transport, journalDir: string): Promise<RunRef[]> {
  const runs = runsDir(journalDir);
  const records = await framedRead(transport, `the runs in ${runs}`, 'bg_runs_list', quotePath(runs), shellQuote(RUN_FILES.seq), shellQuote(RUN_FILES.run));
  const byId = new Map<string, RunRef>();
  for (const rec of records) {
    const [id = '', file] = rec.key.split('/');
    if (!RUN_ID.test(id)) continue;
    const ref = byId.get(id) ?? { id, hasJournal: false };
    byId.set(id, ref);
    if (file === RUN_FILES.run) ref.hasJournal = rec.state === 'present';
    if (file === RUN_FILES.seq && rec.state !== 'missing') {
      const seq = rec.state === 'present' ? parseSeq(rec.content) : { ok: false as const, problem: 'cannot be read' };
      if (seq.ok) ref.seq = seq.value;
      else ref.problem = `${transport.host}:${joinPath(runs, runEntry(id, RUN_FILES.seq))}: ${seq.problem}`;
    }
  }
  return orderRuns([...byId.values()]);
}

function recordsById(records: FramedRecord[]): Map<string, Map<string, FramedRecord>> {
  const out = new Map<string, Map<string, FramedRecord>>();
  for (const rec of records) {
    const [id = '', file = ''] = rec.key.split('/');
    if (!out.has(id)) out.set(id, new Map());
    out.get(id)!.set(file, rec);
  }
  return out;
}

/** meta.json and log of the given runs, in one round trip; damage is reported per run, never thrown. */
export async function readSummaries(transport: Transport, journalDir: string, runs: RunRef[]): Promise<RunSummary[]> {
  const valid = runs.filter((r) => RUN_ID.test(r.id));
  if (valid.length === 0) return [];
  const dir = runsDir(journalDir);
  const entries = valid.flatMap((r) => [runEntry(r.id, RUN_FILES.meta), runEntry(r.id, RUN_FILES.log)]);
  const files = recordsById(await framedRead(transport, `the journals in ${dir}`, 'bg_read_files', quotePath(dir), ...entries.map(shellQuote)));
  return valid.map((ref) => {
    const f = files.get(ref.id);
    const where = (name: RunFile) => `${transport.host}:${joinPath(dir, runEntry(ref.id, name))}`;
    const problems: string[] = ref.problem ? [ref.problem] : [];
    let meta: RunMeta | undefined;
    const m = f?.get(RUN_FILES.meta);
    if (m?.state === 'present') {
      const parsed = parseMeta(m.content);
      if (parsed.ok) meta = parsed.value;
      else problems.push(`${where(RUN_FILES.meta)}: ${parsed.problem}`);
    } else if (m?.state === 'unreadable') problems.push(`${where(RUN_FILES.meta)}: cannot be read`);
    const l = f?.get(RUN_FILES.log);
    const log = l?.state === 'present' ? parseLog(l.content) : { events: [] as LoggedEvent[] };
    if (log.problem) problems.push(`${where(RUN_FILES.log)}: ${log.problem}`);
    if (l?.state === 'unreadable') problems.push(`${where(RUN_FILES.log)}: cannot be read`);
    return { id: ref.id, seq: ref.seq, meta, events: log.events, hasJournal: ref.hasJournal, ...(problems.length ? { problem: problems.join('; ') } : {}) };
  });
}

/** run.json and the log of each run, in one round trip, validated. */
export async function readRuns(transport: Transport, journalDir: string, ids: string[]): Promise<RunRead[]> {
  const valid = ids.filter((id) => RUN_ID.test(id));
  if (valid.length === 0) return [];
  const dir = runsDir(journalDir);
  const entries = valid.flatMap((id) => [runEntry(id, RUN_FILES.run), runEntry(id, RUN_FILES.log)]);
  const files = recordsById(await framedRead(transport, `the journals in ${dir}`, 'bg_read_files', quotePath(dir), ...entries.map(shellQuote)));
  return valid.map((id): RunRead => {
    const f = files.get(id);
    const where = (name: RunFile) => `${transport.host}:${joinPath(dir, runEntry(id, name))}`;
    const runJson = f?.get(RUN_FILES.run);
    const logRec = f?.get(RUN_FILES.log);
    if (logRec?.state === 'unreadable') return { id, state: JOURNAL_STATE.corrupt, problem: `${where(RUN_FILES.log)}: cannot be read` };
    const log = logRec?.state === 'present' ? parseLog(logRec.content) : { events: [] as LoggedEvent[] };
    if (log.problem) return { id, state: JOURNAL_STATE.corrupt, problem: `${where(RUN_FILES.log)}: ${log.problem}` };
    if (!runJson || runJson.state === 'missing') {
      // run.json is in place before the first step starts (Journal.start): a log that records a
      // step without it means the journal was damaged afterwards, not that nothing ran.
      if (log.events.some((e) => e.event === 'step-start')) return { id, state: JOURNAL_STATE.corrupt, problem: `${where(RUN_FILES.run)}: missing, but the log records steps that started` };
      return { id, state: JOURNAL_STATE.noJournal };
    }
    if (runJson.state === 'unreadable') return { id, state: JOURNAL_STATE.corrupt, problem: `${where(RUN_FILES.run)}: cannot be read` };
    const doc = parseRunJson(runJson.content);
    if (!doc.ok) return { id, state: JOURNAL_STATE.corrupt, problem: `${where(RUN_FILES.run)}: ${doc.problem}` };
    return { id, state: JOURNAL_STATE.ok, doc: doc.value as JournaledRun, events: log.events };
  });
}

/** One run (see readRuns). */
export async function readRun(transport: Transport, journalDir: string, id: string): Promise<RunRead> {
  const [r] = await readRuns(transport, journalDir, [id]);
  return r ?? { id, state: JOURNAL_STATE.corrupt, problem: `${transport.host}: ${id} is not a run id` };
}
