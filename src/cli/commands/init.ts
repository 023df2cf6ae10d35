import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BgError, ExitCode } from '../../errors.js';
import { schemaRef } from '../../config/schema-ref.js';

const PACKAGE = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** `bg init`: a hosts.yaml and playbooks/ to start from, never over existing files. */
export function initCommand(args: { dir?: string }, write = (s: string) => process.stdout.write(s)): number {
  const root = resolve(args.dir ?? '.');
  const files = new Map<string, string>();
  // The schema path must work in every clone, not only here: see src/config/schema-ref.ts.
  const version = (JSON.parse(readFileSync(join(PACKAGE, 'package.json'), 'utf8')) as { version: string }).version;
  const schemaLine = (from: string, name: string) => `# yaml-language-server: $schema=${schemaRef(from, root, name, version)}`;
  const withSchema = (text: string, from: string, name: string) => [schemaLine(from, name), ...text.split('\n').filter((l) => !l.startsWith('# yaml-language-server:'))].join('\n');

  files.set(join(root, 'hosts.yaml'), withSchema(readFileSync(join(PACKAGE, 'hosts.example.yaml'), 'utf8'), root, 'hosts.schema.json'));
  for (const f of readdirSync(join(PACKAGE, 'playbooks')).filter((f) => f.endsWith('.yaml')).sort())
    files.set(join(root, 'playbooks', f), withSchema(readFileSync(join(PACKAGE, 'playbooks', f), 'utf8'), join(root, 'playbooks'), 'playbook.schema.json'));

  const existing = [...files.keys()].filter((f) => existsSync(f));
  if (existing.length)
    throw new BgError(`bg init writes nothing over existing files; these exist already:\n  ${existing.map((f) => relative(process.cwd(), f)).join('\n  ')}\nmove them away or start in an empty directory`, ExitCode.badInput);
  for (const [file, text] of files) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
  }
  write(`wrote ${[...files.keys()].map((f) => relative(process.cwd(), f) || f).join(', ')}\nnext: edit hosts.yaml, then bg validate and bg plan phase1 --host prod\n`);
  return ExitCode.ok;
}
