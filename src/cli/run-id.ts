import { randomBytes } from 'node:crypto';

/** A sortable, unique run id: 20261121T122255Z-3fa1 (UTC). */
export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${randomBytes(2).toString('hex')}`;
}
