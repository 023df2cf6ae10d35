import { z } from 'zod';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A duration as written in playbooks: `500ms`, `1s`, `2m`, or a number of seconds. Parsed to ms. */
export const duration = z.union([z.number().nonnegative(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v * 1000;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(v);
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `\`${v}\` is not a duration (e.g. 500ms, 1s, 2m)` });
    return z.NEVER;
  }
  return Number(m[1]) * (UNITS[m[2] ?? 's'] ?? 1000);
});
