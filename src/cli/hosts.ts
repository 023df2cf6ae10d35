import type { Inventory } from '../config/inventory-schema.js';
import { UsageError } from '../errors.js';

/**
 * Expand `--host a,b` (hosts or groups; also `--host a --host b`) into host names, in the order
 * given, without repeats. Names are looked up as own keys only: `constructor` or `__proto__` is an
 * unknown host, not a property of every object.
 */
export function selectHosts(inventory: Inventory, spec: string | readonly string[], inventoryName: string): string[] {
  const names: string[] = [];
  const parts = (typeof spec === 'string' ? [spec] : [...spec]).flatMap((s) => String(s).split(','));
  for (const part of parts.map((s) => s.trim()).filter(Boolean)) {
    const members = Object.hasOwn(inventory.groups, part) ? inventory.groups[part]! : Object.hasOwn(inventory.hosts, part) ? [part] : undefined;
    if (!members) {
      const known = [...Object.keys(inventory.hosts), ...Object.keys(inventory.groups).map((g) => `${g} (group)`)];
      throw new UsageError(`unknown host \`${part}\` in ${inventoryName} (known: ${known.join(', ') || 'none'})`);
    }
    for (const m of members) if (!names.includes(m)) names.push(m);
  }
  if (names.length === 0) throw new UsageError('--host needs at least one host name');
  return names;
}
