import { LineCounter, parseDocument, isMap, isNode, isScalar, visit, type Document } from 'yaml';
import type { z } from 'zod';
import type { Problem } from '../errors.js';

/** A parsed YAML file that can point back at the line of any field. */
export interface YamlSource {
  file: string;
  doc: Document.Parsed;
  lines: LineCounter;
}

/** Parse YAML text, returning syntax errors as located problems instead of throwing. */
export function parseYaml(file: string, text: string): { source: YamlSource; problems: Problem[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  const problems: Problem[] = [...doc.errors, ...doc.warnings].map((e) => {
    const pos = e.linePos?.[0];
    return { file, line: pos?.line, column: pos?.col, message: e.message.split('\n')[0] ?? e.message };
  });
  return { source: { file, doc, lines }, problems };
}

/** Line and column of the key (or item) at `path`, or of its nearest ancestor that exists. */
export function locate(source: YamlSource, path: ReadonlyArray<PropertyKey>): { line?: number; column?: number } {
  // A map entry is located at its key: that is where a typo or a wrong name is written.
  const parent = path.length ? source.doc.getIn(path.slice(0, -1) as unknown[], true) : undefined;
  if (isMap(parent)) {
    const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === String(path[path.length - 1]));
    if (pair && isNode(pair.key) && pair.key.range) {
      const pos = source.lines.linePos(pair.key.range[0]);
      return { line: pos.line, column: pos.col };
    }
  }
  for (let n = path.length; n >= 0; n--) {
    const node = source.doc.getIn(path.slice(0, n) as unknown[], true);
    if (isNode(node) && node.range) {
      const pos = source.lines.linePos(node.range[0]);
      return { line: pos.line, column: pos.col };
    }
  }
  return {};
}

/** Validate a parsed document against a schema; every issue becomes a located problem. */
export function validateWith<S extends z.ZodType>(
  source: YamlSource,
  schema: S,
): { value?: z.output<S>; problems: Problem[] } {
  let data: unknown;
  try {
    // yaml refuses documents whose aliases expand past maxAliasCount (a "billion laughs" bomb).
    data = source.doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    return { problems: [{ file: source.file, ...firstAlias(source), message: `cannot read the YAML: ${(e as Error).message.split('\n')[0]}` }] };
  }
  // `__proto__` as a key would set an object's prototype (zod drops it silently): refuse it.
  const reserved = reservedKeys(source);
  if (reserved.length) return { problems: reserved };
  const result = schema.safeParse(data ?? {});
  if (result.success) return { value: result.data, problems: [] };
  const located = (issue: z.core.$ZodIssue, base: PropertyKey[]): Problem[] => {
    const path = [...base, ...issue.path];
    // One problem per unknown key, located at the key itself: that is where the typo is.
    if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => problemAt(source, [...path, key], 'unknown field'));
    // A union (`db:` a path or `{ postgres: ... }`): when exactly one branch took the value's type and
    // failed only inside it, its own problems name the missing or wrong fields.
    if (issue.code === 'invalid_union' && issue.errors.length) {
      const inside = issue.errors.filter((branch) => branch.length > 0 && branch.every((i) => i.path.length > 0));
      if (inside.length === 1) return inside[0]!.flatMap((i) => located(i, path));
    }
    return [problemAt(source, path as Array<string | number>, issue.message)];
  };
  const problems = result.error.issues.flatMap((issue) => located(issue, []));
  return { problems };
}

/** A problem located at `path` in the source. */
export function problemAt(source: YamlSource, path: ReadonlyArray<PropertyKey>, message: string): Problem {
  return {
    file: source.file,
    ...locate(source, path),
    field: path.length ? path.map(String).join('.') : undefined,
    message,
  };
}

/** yaml's own default: far more aliases than a hand-written file needs, far fewer than a bomb. */
const MAX_ALIAS_COUNT = 100;

/** Where the first alias (`*name`) is: the place to look when expanding them fails. */
function firstAlias(source: YamlSource): { line?: number; column?: number } {
  let at: { line?: number; column?: number } = {};
  visit(source.doc, {
    Alias(_key, node) {
      if (node.range) {
        const pos = source.lines.linePos(node.range[0]);
        at = { line: pos.line, column: pos.col };
      }
      return visit.BREAK;
    },
  });
  return at;
}

/** Every map key `__proto__` in the document, located: no name can be one. */
function reservedKeys(source: YamlSource): Problem[] {
  const found: Problem[] = [];
  visit(source.doc, {
    Pair(_key, pair) {
      if (isScalar(pair.key) && pair.key.value === '__proto__') {
        const pos = pair.key.range ? source.lines.linePos(pair.key.range[0]) : undefined;
        found.push({ file: source.file, line: pos?.line, column: pos?.col, message: '`__proto__` cannot be used as a name' });
      }
    },
  });
  return found;
}
