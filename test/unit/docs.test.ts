// Documentation that users copy: every invocation must run THIS package (bg-deploy), never the
// unrelated npm package `bg`; the schemas an editor reads must be a dialect it supports.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv from 'ajv';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { schemaRef, schemaUrl } from '../../src/cli/schema-ref.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));

/** README, every file under docs/ and examples/ (not node_modules), and the composite action. */
function documents(): string[] {
  const out = [join(repo, 'README.md'), join(repo, 'action.yml')];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      if (name === 'node_modules') continue;
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(md|ya?ml|sh|json)$/.test(name) && !name.endsWith('-lock.json')) out.push(p);
    }
  };
  walk(join(repo, 'docs'));
  walk(join(repo, 'examples'));
  return out;
}

/**
 * An npx call whose command is `bg`: without bg-deploy installed npx fetches the unrelated npm
 * package `bg`; with it installed, npx runs `sh -c "bg …"` and the shell's job-control builtin
 * `bg` answers. Either way not this program: documented calls use the command `bg-deploy`.
 */
export function unsafeNpx(line: string): string | undefined {
  const m = /\bnpx((?:\s+-{1,2}[\w-]+(?:[= ]\S+)?)*)(?:\s+--)?\s+bg(?=\s|$|[`'")])/.exec(line);
  return m?.[0];
}

describe('documented invocations run this program', () => {
  it('the detector flags every npx call of the command bg, and only those', () => {
    for (const bad of ['npx bg validate', 'run: npx bg', '`npx --yes bg run x`', 'npx -y bg', 'npx --package bg bg', 'npx -p bg-deploy bg init', 'npx --no -- bg x'])
      expect(unsafeNpx(bad), bad).toBeDefined();
    for (const ok of ['npx --no bg-deploy validate', 'npx --yes bg-deploy@0.1 init', 'npx -p bg-deploy -- bg-deploy x', 'npx bgx', 'npx vitest'])
      expect(unsafeNpx(ok), ok).toBeUndefined();
  });

  it('no README, docs/, examples/ or action.yml line runs npx with the command bg', () => {
    const found: string[] = [];
    for (const file of documents()) {
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          const hit = unsafeNpx(line);
          if (hit) found.push(`${relative(repo, file)}:${i + 1}: ${hit}`);
        });
    }
    expect(found).toEqual([]);
  });

  it('the package is named bg-deploy and installs the program as bg-deploy and bg', () => {
    const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
    expect(pkg.name).toBe('bg-deploy');
    expect(pkg.bin).toEqual({ bg: 'bin/bg.js', 'bg-deploy': 'bin/bg.js' });
  });
});

describe('JSON Schemas for editors', () => {
  it('declare draft-07 and are valid draft-07 schemas', () => {
    const ajv = new Ajv.default({ strict: false });
    for (const name of ['hosts.schema.json', 'playbook.schema.json']) {
      const schema = JSON.parse(readFileSync(join(repo, 'schemas', name), 'utf8'));
      expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
      expect(ajv.validateSchema(schema), JSON.stringify(ajv.errors)).toBe(true);
      // No nested dialect declarations, no 2019+/2020 keywords the YAML language server ignores.
      const text = JSON.stringify(schema);
      expect(text.match(/"\$schema"/g)).toHaveLength(1);
      for (const kw of ['$defs', 'prefixItems', 'unevaluatedProperties', 'dependentRequired', '$dynamicRef']) expect(text).not.toContain(`"${kw}"`);
    }
  });

  it('schemaRef: a versioned URL for any version string, the package path otherwise', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^\d{1,3}\.\d{1,3}\.\d{1,3}(-[a-z0-9.]{1,8})?$/), (version) => {
        const url = schemaRef('/nonexistent/a/b', '/nonexistent/a', 'hosts.schema.json', version);
        expect(url).toBe(schemaUrl(version, 'hosts.schema.json'));
        expect(new URL(url).pathname).toBe(`/bg-deploy@${version}/schemas/hosts.schema.json`);
      }),
      { numRuns: 50 },
    );
  });
});
