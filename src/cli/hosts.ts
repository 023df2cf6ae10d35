import type { Inventory } from '../config/inventory-schema.js';
import { UsageError } from '../errors.js';

/** Expand `--host a,b` (hosts or groups) into host names, in the order given, without repeats. */
export function selectHosts(inventory: Inventory, spec: string, inventoryName: string): string[] {
  const names: string[] = [];
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const members = inventory.groups[part] ?? (inventory.hosts[part] ? [part] : undefined);
    if (!members) {
      const known = [...Object.keys(inventory.hosts), ...Object.keys(inventory.groups).map((g) => `${g} (group)`)];
      throw new UsageError(`unknown host \`${part}\` in ${inventoryName} (known: ${known.join(', ') || 'none'})`);
    }
    for (const m of members) if (!names.includes(m)) names.push(m);
  }
  if (names.length === 0) throw new UsageError('--host needs at least one host name');
  return names;
}
