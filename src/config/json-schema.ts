import { z } from 'zod';
import { ACTIONS } from '../plan/actions/index.js';
import { inventorySchema } from './inventory-schema.js';
import { playbookSchema } from './playbook-schema.js';
import { schemaUrl } from './schema-ref.js';

// Draft-07: the YAML language server (VS Code, Neovim, ...) supports it fully, 2020-12 only partly.
const TARGET = 'draft-07';
const toJson = (schema: z.ZodType) => z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: TARGET }) as Record<string, any>;

/**
 * JSON Schema of hosts.yaml, from the same zod definitions the validator uses. Its $id is where
 * the published package of `version` (the caller reads package.json) serves the same file.
 */
export function inventoryJsonSchema(version: string): Record<string, unknown> {
  return { ...toJson(inventorySchema), $id: schemaUrl(version, 'hosts.schema.json'), title: 'bg inventory (hosts.yaml)' };
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
 * parameters), which the zod validator checks in the planner instead. $id as in inventoryJsonSchema.
 */
export function playbookJsonSchema(version: string): Record<string, unknown> {
  const base = toJson(playbookSchema);
  const step = base.properties.steps.items;
  step.properties.action = { type: 'string', enum: Object.keys(ACTIONS).sort(), description: 'A built-in action' };
  step.allOf = Object.values(ACTIONS).map((a) => ({
    if: { properties: { action: { const: a.name } }, required: ['action'] },
    then: { properties: { with: { ...allowTemplates(withoutDialect(toJson(a.params))), description: a.summary } } },
  }));
  return { ...base, $id: schemaUrl(version, 'playbook.schema.json'), title: 'bg playbook' };
}

/** A nested schema must not repeat `$schema` (draft-07 allows it only at the root). */
function withoutDialect(schema: Record<string, any>): Record<string, any> {
  const { $schema: _dialect, ...rest } = schema;
  return rest;
}
