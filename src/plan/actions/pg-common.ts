// What the PostgreSQL branches of backup and schema-check share: an env's connection as the six
// words src/remote/pg.sh takes (HOST PORT DATABASE USER SERVICE PASSWORD; '' for libpq's default).
import type { PgDbConfig } from '../../config/inventory-schema.js';
import { shellQuote } from '../quote.js';
import { secretVariable } from '../template.js';

/** The connection words; the password is only a reference to its secret's shell variable (sent on stdin, redacted). */
export function pgConnWords(pg: PgDbConfig): string[] {
  return [
    shellQuote(pg.host ?? ''),
    shellQuote(pg.port === undefined ? '' : String(pg.port)),
    shellQuote(pg.database),
    shellQuote(pg.user ?? ''),
    shellQuote(pg.service ?? ''),
    pg.password_var === undefined ? "''" : `"$${secretVariable(pg.password_var)}"`,
  ];
}

/** How a PostgreSQL database is named in labels and messages (no password). */
export function pgLabel(pg: PgDbConfig): string {
  return `postgres ${pg.user ? pg.user + '@' : ''}${pg.host ?? ''}${pg.port ? ':' + pg.port : ''}/${pg.database}`;
}
