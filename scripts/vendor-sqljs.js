#!/usr/bin/env node
// Copies the only parts of sql.js that Node needs (its 48 KB loader and 676 KB wasm, with its
// license) into dist/vendor/sql.js: the package ships those instead of sql.js's 31 MB (run by
// `npm run build`; sql.js itself is a devDependency).
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const dist = path.dirname(createRequire(import.meta.url).resolve('sql.js'));
const out = new URL('../dist/vendor/sql.js/', import.meta.url);
mkdirSync(out, { recursive: true });
// .cjs: the package is ESM, and the loader is a CommonJS module.
copyFileSync(path.join(dist, 'sql-wasm.js'), new URL('sql-wasm.cjs', out));
copyFileSync(path.join(dist, 'sql-wasm.wasm'), new URL('sql-wasm.wasm', out));
copyFileSync(path.join(dist, '..', 'LICENSE'), new URL('LICENSE', out));
