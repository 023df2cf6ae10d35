import { z } from 'zod';
import { ACTIONS } from '../plan/actions/index.js';
import { inventorySchema } from './inventory-schema.js';
import { playbookSchema } from './playbook-schema.js';

const BASE = 'https://bg.invalid/schemas';

/** JSON Schema of hosts.yaml, from the same zod definitions the validator uses. */
export function inventoryJsonSchema(): Record<string, unknown> {
  return { ...z.toJSONSchema(inventorySchema, { io: 'input', unrepresentable: 'any' }), $id: `${BASE}/hosts.schema.json`, title: 'bg inventory (hosts.yaml)' };
}

// Any parameter may be a template (`"{{ vars.key }}"`), checked once rendered, at plan time.
const TEMPLATE = { type: 'string', pattern: '\\{\\{[^{}]*\\}\\}' };

function allowTemplates(schema: Record<string, any>): Record<string, any> {
  const props = schema.properties as Record<string, unknown> | undefined;
  if (!props) return schema;
  return { ...schema, properties: Object.fromEntries(Object.entries(props).map(([k, v]) => [k, { anyOf: [v, TEMPLATE] }])) };
}

/**
 * JSON Schema of a playbook. Each step's `with:` is typed by its action (editors complete and check
 * parameters), which the zod validator checks in the planner instead.
 */
export function playbookJsonSchema(): Record<string, unknown> {
  const base = z.toJSONSchema(playbookSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, any>;
  const step = base.properties.steps.items;
  step.properties.action = { type: 'string', enum: Object.keys(ACTIONS).sort(), description: 'A built-in action' };
  step.allOf = Object.values(ACTIONS).map((a) => ({
    if: { properties: { action: { const: a.name } }, required: ['action'] },
    then: { properties: { with: { ...allowTemplates(z.toJSONSchema(a.params, { io: 'input', unrepresentable: 'any' })), description: a.summary } } },
  }));
  return { ...base, $id: `${BASE}/playbook.schema.json`, title: 'bg playbook' };
}
