import { z } from 'zod';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * The longest duration a playbook may give: 24 days. Node timers hold at most 2^31-1 ms (~24.8
 * days); a longer one fires at once, so `timeout: 600h` would time out immediately.
 */
export const MAX_DURATION_MS = 24 * 24 * 3_600_000;

/** A duration as written in playbooks: `500ms`, `1s`, `2m`, or a number of seconds. Parsed to ms. */
export const duration = z.union([z.number(), z.string()]).transform((v, ctx) => {
  let ms: number;
  if (typeof v === 'number') ms = v * 1000;
  else {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(v);
    if (!m) {
      ctx.addIssue({ code: 'custom', message: `\`${v}\` is not a duration (e.g. 500ms, 1s, 2m)` });
      return z.NEVER;
    }
    ms = Number(m[1]) * (UNITS[m[2] ?? 's'] ?? 1000);
  }
  if (!Number.isFinite(ms) || ms < 0 || ms > MAX_DURATION_MS) {
    ctx.addIssue({ code: 'custom', message: `\`${v}\` is not a duration from 0 to ${MAX_DURATION_MS / 3_600_000}h (24 days, the longest a timer can wait)` });
    return z.NEVER;
  }
  return ms;
});
