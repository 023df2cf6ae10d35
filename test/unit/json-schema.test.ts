import { readFileSync, readdirSync } from 'node:fs';
import Ajv from 'ajv'; // draft-07, the dialect the schemas declare
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { inventoryJsonSchema, playbookJsonSchema } from '../../src/config/json-schema.js';
import { packageVersion } from '../../src/cli/package-info.js';

const repo = new URL('../../', import.meta.url);
const read = (p: string) => readFileSync(new URL(p, repo), 'utf8');
const ajv = new Ajv.default({ allErrors: true, strict: false });
const validateHosts = ajv.compile(JSON.parse(read('schemas/hosts.schema.json')));
const validatePlaybook = ajv.compile(JSON.parse(read('schemas/playbook.schema.json')));

describe('JSON Schemas', () => {
  it('are the ones the validator definitions produce (npm run build regenerates them)', () => {
    expect(JSON.parse(read('schemas/hosts.schema.json'))).toEqual(JSON.parse(JSON.stringify(inventoryJsonSchema(packageVersion()))));
    expect(JSON.parse(read('schemas/playbook.schema.json'))).toEqual(JSON.parse(JSON.stringify(playbookJsonSchema(packageVersion()))));
  });

  it('accept every shipped example', () => {
    expect(validateHosts(parse(read('hosts.example.yaml'))), JSON.stringify(validateHosts.errors)).toBe(true);
    expect(validateHosts(parse(read('test/fixtures/hosts.yaml')))).toBe(true);
    const playbooks = readdirSync(new URL('playbooks/', repo)).filter((f) => f.endsWith('.yaml'));
    expect(playbooks.length).toBeGreaterThan(0);
    for (const f of playbooks) expect(validatePlaybook(parse(read(`playbooks/${f}`))), `${f}: ${JSON.stringify(validatePlaybook.errors)}`).toBe(true);
    expect(validatePlaybook(parse(read('test/fixtures/playbooks/release.yaml')))).toBe(true);
  });

  it('start with a yaml-language-server line', () => {
    expect(read('hosts.example.yaml').split('\n')[0]).toBe('# yaml-language-server: $schema=./schemas/hosts.schema.json');
    for (const f of readdirSync(new URL('playbooks/', repo)).filter((f) => f.endsWith('.yaml')))
      expect(read(`playbooks/${f}`).split('\n')[0]).toBe('# yaml-language-server: $schema=../schemas/playbook.schema.json');
  });

  it('reject broken files', () => {
    expect(validatePlaybook(parse(read('test/fixtures/playbooks/many-problems.yaml')))).toBe(false); // step without name, typo field
    expect(validatePlaybook({ name: 'x', steps: [{ name: 'a', action: 'teleport' }] })).toBe(false);
    expect(validatePlaybook({ name: 'x', steps: [{ name: 'a', action: 'health', with: { retries: 'many' } }] })).toBe(false);
    expect(validatePlaybook({ name: 'x', steps: [{ name: 'a', action: 'shell', with: { comand: 'true' } }] })).toBe(false);
    expect(validateHosts({ hosts: { a: { local: true, envs: { blue: { dir: '/x', port: '3000' } } } } })).toBe(false);
    expect(validateHosts({ hosts: { a: { ssh: { host: 'h', fingerprint: 'MD5:aa' } } } })).toBe(false);
    expect(validateHosts({ hots: {} })).toBe(false);
  });
});
