import { randomBytes } from 'node:crypto';

/**
 * A sortable, unique run id: 20261121T122255.123Z-3fa1 (UTC). The milliseconds keep two runs
 * started in the same second in order (history, the default `bg rollback`, backup pruning).
 */
export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '');
  return `${stamp}-${randomBytes(2).toString('hex')}`;
}
