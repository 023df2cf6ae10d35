#!/usr/bin/env node
// Writes schemas/*.schema.json from the validator's own definitions (run by `npm run build`).
import { mkdirSync, writeFileSync } from 'node:fs';
import { inventoryJsonSchema, playbookJsonSchema } from '../dist/config/json-schema.js';
import { packageVersion } from '../dist/cli/package-info.js';

const dir = new URL('../schemas/', import.meta.url);
mkdirSync(dir, { recursive: true });
for (const [name, schema] of [['hosts', inventoryJsonSchema(packageVersion())], ['playbook', playbookJsonSchema(packageVersion())]])
  writeFileSync(new URL(`${name}.schema.json`, dir), JSON.stringify(schema, null, 2) + '\n');
