// Names of the schema fingerprint functions of the remote library (src/remote/fingerprint.sh):
// fingerprints from SQLite's catalog, not from `.schema | md5sum` (see NOTES.md).
import { shFn } from './sh-lib.js';

export const BG_SCHEMA = shFn('bg_schema');
export const BG_SCHEMA_COMPARE = shFn('bg_schema_compare');
