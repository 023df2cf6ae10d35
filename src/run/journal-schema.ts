import { z } from 'zod';
import type { Plan } from '../plan/types.js';
import type { JournalEvent } from './journal.js';
import type { RunMeta } from './run-meta.js';

/**
 * The shapes of the files bg reads back from a host (run.json, meta.json, log, seq, the lock's
 * info.json). Anything on a host can be damaged (a full disk, a crash, a hand edit): what is read
 * is validated here, and a problem is reported naming the file instead of crashing later.
 */

const EVENTS = ['run-start', 'step-start', 'step-done', 'step-failed', 'undo-start', 'undone', 'undo-failed', 'run-end'] as const satisfies readonly JournalEvent[];

/** Run ids as bg makes them (src/cli/run-id.ts): a lock or journal naming anything else is damaged. */
export const RUN_ID = /^\d{8}T\d{6}(\.\d{3})?Z-[0-9a-f]+$/;

export const runMetaSchema = z
  .object({
    runId: z.string().regex(RUN_ID, 'not a run id'),
    playbook: z.string(),
    command: z.string(),
    user: z.string(),
    machine: z.string(),
    pid: z.number().int(),
    startedAt: z.string(),
    ciUrl: z.string().optional(),
  })
  .loose();

const command = z.looseObject({ cmd: z.string(), label: z.string().optional(), timeoutMs: z.number().optional() });

// What bg rollback relies on; the rest of the plan is kept as it is.
const step = z
  .object({
    index: z.number().int().positive(),
    name: z.string(),
    action: z.string(),
    env: z.string().optional(),
    mutates: z.boolean(),
    capture: z.array(command),
    run: z.array(command),
    verify: z.array(command),
    undo: z.array(command),
    discardCheck: z.array(command).optional(),
    undoNote: z.string().optional(),
  })
  .loose();

const plan = z
  .object({
    version: z.literal(1),
    runId: z.string(),
    playbook: z.object({ name: z.string(), file: z.string() }).loose(),
    host: z.object({ name: z.string() }).loose(),
    journalDir: z.string(),
    vars: z.record(z.string(), z.string()).optional(),
    secrets: z.record(z.string(), z.string().nullable()).optional(),
    steps: z.array(step),
  })
  .loose()
  .superRefine((p, ctx) => {
    const seen = new Set<number>();
    for (const s of p.steps) {
      if (seen.has(s.index)) ctx.addIssue({ code: 'custom', message: `step index ${s.index} appears twice`, path: ['steps'] });
      seen.add(s.index);
    }
  });

export const journaledRunSchema = z.looseObject({ version: z.literal(1), meta: runMetaSchema, plan });

export const loggedEventSchema = z.looseObject({ t: z.string(), event: z.enum(EVENTS), step: z.number().int().optional(), detail: z.string().optional() });

export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

/** One line for a person: the first issue, with the field it is about. */
function describe(e: z.ZodError): string {
  const i = e.issues[0]!;
  return `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}${e.issues.length > 1 ? ` (and ${e.issues.length - 1} more)` : ''}`;
}

function parseJson(text: string): Parsed<unknown> {
  if (!text.trim()) return { ok: false, problem: 'empty' };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, problem: `not valid JSON (${(e as Error).message})` };
  }
}

function validate<T>(schema: z.ZodType<unknown>, text: string): Parsed<T> {
  const json = parseJson(text);
  if (!json.ok) return json;
  const r = schema.safeParse(json.value);
  return r.success ? { ok: true, value: r.data as T } : { ok: false, problem: describe(r.error) };
}

export function parseRunJson(text: string): Parsed<{ version: 1; meta: RunMeta; plan: Plan }> {
  return validate(journaledRunSchema, text);
}

export function parseMeta(text: string): Parsed<RunMeta> {
  return validate(runMetaSchema, text);
}

/** The host's sequence number of a run (a decimal counter written by bg). */
export function parseSeq(text: string): Parsed<number> {
  const t = text.trim();
  if (!/^[0-9]{1,15}$/.test(t)) return { ok: false, problem: `not a sequence number: ${JSON.stringify(t.slice(0, 40))}` };
  return { ok: true, value: Number(t) };
}

/**
 * A log line. A line that is not JSON but starts like one of bg's lines is a torn write (the host
 * lost power or the disk filled while appending); its event never reached the disk durably, so
 * nothing that depended on it ran. Another line can have been appended right after it, on the
 * same line: that one is recovered. Anything else is damage.
 */
export function parseLogLine(line: string): { event?: z.output<typeof loggedEventSchema>; torn?: boolean; problem?: string } {
  const json = parseJson(line);
  if (json.ok) {
    const r = loggedEventSchema.safeParse(json.value);
    return r.success ? { event: r.data } : { problem: describe(r.error) };
  }
  if (!line.startsWith('{"t":"')) return { problem: json.problem };
  const glued = line.lastIndexOf('{"t":"');
  if (glued > 0) {
    const rest = parseLogLine(line.slice(glued));
    if (rest.event) return { event: rest.event, torn: true };
  }
  return { torn: true };
}
