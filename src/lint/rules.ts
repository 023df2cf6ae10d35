// The rules of `bg lint`: every change a migration can make that breaks the version of the app
// still running on the old schema (during blue-green, BLUE and GREEN share one database).
// Rule ids are a public contract (`-- bg:allow RULE reason`, `--json`): never rename one.

export type Dialect = 'sqlite' | 'postgres';

/** `breaking` fails the lint unless accepted; `warning` is reported and never fails it. */
export type Severity = 'breaking' | 'warning';

export interface Rule {
  id: RuleId;
  title: string;
  severity: Severity;
  /** Dialects the rule applies to. */
  dialects: readonly Dialect[];
  /** Why the change breaks the version still running (general form; findings say it precisely). */
  why: string;
  /** The safe alternative: how to make the same change with expand/contract. */
  fix: string;
  /** May `-- bg:allow` or a contract migration accept it? (Not for findings about the comments themselves.) */
  acceptable: boolean;
}

export const RULE_IDS = [
  'drop-table',
  'drop-column',
  'rename-table',
  'rename-column',
  'add-column-not-null',
  'change-column-type',
  'set-not-null',
  'table-rebuild',
  'drop-unique',
  'delete-without-where',
  'update-without-where',
  'create-index-non-concurrent',
  'constraint-without-not-valid',
  'trigger-broken',
  'view-broken',
  'missing-lock-timeout',
  'allow-without-reason',
  'unused-directive',
] as const;
export type RuleId = (typeof RULE_IDS)[number];

const BOTH: readonly Dialect[] = ['sqlite', 'postgres'];
const PG: readonly Dialect[] = ['postgres'];
const SQLITE: readonly Dialect[] = ['sqlite'];

const CONTRACT =
  'in a later contract migration (a file named *.contract.sql, or starting with `-- bg:contract`), once no running version uses it';

export const RULES: Readonly<Record<RuleId, Rule>> = {
  'drop-table': {
    id: 'drop-table',
    title: 'DROP TABLE',
    severity: 'breaking',
    dialects: BOTH,
    why: 'the version still running reads and writes the table: every query on it fails ("no such table") as soon as the migration runs, and its rows are gone for a rollback',
    fix: `release code that no longer uses the table first, then drop it ${CONTRACT}`,
    acceptable: true,
  },
  'drop-column': {
    id: 'drop-column',
    title: 'DROP COLUMN',
    severity: 'breaking',
    dialects: BOTH,
    why: 'the version still running selects or inserts the column: those queries fail ("no such column")',
    fix: `release code that neither reads nor writes the column first, then drop it ${CONTRACT}`,
    acceptable: true,
  },
  'rename-table': {
    id: 'rename-table',
    title: 'RENAME TABLE',
    severity: 'breaking',
    dialects: BOTH,
    why: 'the version still running uses the old name: every query on it fails ("no such table")',
    fix: `expand: create the table under the new name and copy the rows (or CREATE VIEW new_name AS SELECT * FROM old_name for reads), release code that uses the new name; contract: drop the old table ${CONTRACT}`,
    acceptable: true,
  },
  'rename-column': {
    id: 'rename-column',
    title: 'RENAME COLUMN',
    severity: 'breaking',
    dialects: BOTH,
    why: 'the version still running uses the old name: its queries fail ("no such column")',
    fix: `expand: ADD COLUMN with the new name, copy the values (UPDATE … SET new = old, in batches), release code that writes both and reads the new one (or keep them in sync with a trigger); contract: drop the old column ${CONTRACT}`,
    acceptable: true,
  },
  'add-column-not-null': {
    id: 'add-column-not-null',
    title: 'ADD COLUMN … NOT NULL without DEFAULT',
    severity: 'breaking',
    dialects: BOTH,
    why: 'the version still running inserts rows without the new column: every such INSERT fails ("NOT NULL constraint failed"); SQLite and PostgreSQL also refuse the ALTER itself when the table has rows',
    fix: 'add the column nullable or with a DEFAULT, backfill it, release code that always writes it; enforce NOT NULL only after that (PostgreSQL: CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT, then SET NOT NULL)',
    acceptable: true,
  },
  'change-column-type': {
    id: 'change-column-type',
    title: 'ALTER COLUMN … TYPE',
    severity: 'breaking',
    dialects: PG,
    why: 'PostgreSQL rewrites the table (and its indexes) under an ACCESS EXCLUSIVE lock: every read and write of the running version waits; and the old code may send or expect values of the old type',
    fix: `expand: add a column of the new type, backfill it in batches, release code that writes both and reads the new one; contract: drop the old column ${CONTRACT}`,
    acceptable: true,
  },
  'set-not-null': {
    id: 'set-not-null',
    title: 'ALTER COLUMN … SET NOT NULL',
    severity: 'breaking',
    dialects: PG,
    why: 'the version still running may insert rows without the column ("violates not-null constraint"), and the check scans the whole table under an ACCESS EXCLUSIVE lock',
    fix: 'only once every running version writes the column: ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID; VALIDATE CONSTRAINT c; then SET NOT NULL (PostgreSQL 12+ uses the validated CHECK and skips the scan) and drop the CHECK',
    acceptable: true,
  },
  'table-rebuild': {
    id: 'table-rebuild',
    title: 'SQLite table rebuild (create new, copy, drop old, rename)',
    severity: 'breaking',
    dialects: SQLITE,
    why: 'the version still running gets a different table under the same name: columns it uses may be gone or changed, the copy holds the write lock for the whole table, rows it writes outside the migration’s transaction are lost, and the indexes, triggers and views of the old table go with it',
    fix: `prefer expand/contract: ADD COLUMN (nullable or with a DEFAULT) and new tables now, leave old columns in place; when a rebuild is unavoidable (type change, dropping a constraint), make it a contract step: one transaction, PRAGMA foreign_keys=OFF before it, every index, trigger and view of the table recreated`,
    acceptable: true,
  },
  'drop-unique': {
    id: 'drop-unique',
    title: 'DROP a UNIQUE index or constraint',
    severity: 'breaking',
    dialects: BOTH,
    why: 'the version still running relies on it: INSERT … ON CONFLICT (upserts) on those columns fails ("ON CONFLICT clause does not match any PRIMARY KEY or UNIQUE constraint"), and duplicates are no longer rejected',
    fix: `create the replacement first (CREATE UNIQUE INDEX, CONCURRENTLY on PostgreSQL), release code that uses it, and drop the old one ${CONTRACT}`,
    acceptable: true,
  },
  'delete-without-where': {
    id: 'delete-without-where',
    title: 'DELETE (or TRUNCATE) without WHERE',
    severity: 'breaking',
    dialects: BOTH,
    why: 'every row the running version uses is deleted, and the delete holds the write lock for the whole table while it runs',
    fix: `delete only the rows meant to go, with a WHERE, in batches (DELETE FROM t WHERE id IN (SELECT id FROM t WHERE … LIMIT 1000)); empty a table only ${CONTRACT}`,
    acceptable: true,
  },
  'update-without-where': {
    id: 'update-without-where',
    title: 'UPDATE without WHERE',
    severity: 'breaking',
    dialects: BOTH,
    why: 'every row is rewritten in one transaction: the write lock is held for the whole table (the running version gets "database is locked" or lock timeouts) and values it wrote are overwritten',
    fix: 'backfill in batches with a WHERE that skips rows already done (e.g. WHERE new_col IS NULL AND id BETWEEN … AND …); for a small table accept it with `-- bg:allow update-without-where REASON`',
    acceptable: true,
  },
  'create-index-non-concurrent': {
    id: 'create-index-non-concurrent',
    title: 'CREATE INDEX without CONCURRENTLY',
    severity: 'breaking',
    dialects: PG,
    why: 'building the index blocks every INSERT, UPDATE and DELETE on the table until it is done: the running version stalls',
    fix: 'CREATE INDEX CONCURRENTLY (outside a transaction block; drop the INVALID index and retry if it fails); for a UNIQUE or PRIMARY KEY constraint: CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT … UNIQUE USING INDEX',
    acceptable: true,
  },
  'constraint-without-not-valid': {
    id: 'constraint-without-not-valid',
    title: 'ADD CONSTRAINT FOREIGN KEY / CHECK without NOT VALID',
    severity: 'breaking',
    dialects: PG,
    why: 'adding the constraint checks every existing row while holding a lock that blocks writes (and, for a foreign key, writes to the referenced table too); one old row that violates it fails the migration',
    fix: 'ADD CONSTRAINT … NOT VALID (checks new rows only; brief lock), then ALTER TABLE … VALIDATE CONSTRAINT … in a later statement or migration (scans without blocking writes)',
    acceptable: true,
  },
  'trigger-broken': {
    id: 'trigger-broken',
    title: 'a trigger left referring to something the migration removed',
    severity: 'breaking',
    dialects: SQLITE,
    why: 'SQLite compiles a table’s triggers into every statement that fires them: each INSERT, UPDATE or DELETE of the running version on that table now fails with the trigger’s error, even though the version never mentions what was removed',
    fix: 'drop or recreate the trigger in the same migration, before the change that breaks it (DROP TRIGGER …; then CREATE TRIGGER … against the new schema), and make sure no running version needs what it did',
    acceptable: true,
  },
  'view-broken': {
    id: 'view-broken',
    title: 'a view left referring to something the migration removed',
    severity: 'breaking',
    dialects: SQLITE,
    why: 'every query of the running version that reads the view fails with the view’s error',
    fix: `recreate the view against the new schema in the same migration (DROP VIEW …; CREATE VIEW …), or drop it ${CONTRACT}`,
    acceptable: true,
  },
  'missing-lock-timeout': {
    id: 'missing-lock-timeout',
    title: 'an ACCESS EXCLUSIVE lock taken without SET lock_timeout',
    severity: 'warning',
    dialects: PG,
    why: 'the statement needs an ACCESS EXCLUSIVE lock on a table in use; while it waits behind any open transaction (a long report, an idle-in-transaction session), every query of the running version on that table queues behind it: the app stalls although the change itself is instant',
    fix: "put SET lock_timeout = '5s' before it (first in the migration) and retry the migration when it times out: the statement gives up instead of stalling the app",
    acceptable: false,
  },
  'allow-without-reason': {
    id: 'allow-without-reason',
    title: '`-- bg:allow` without a reason',
    severity: 'breaking',
    dialects: BOTH,
    why: 'an accepted breaking change must say why it is safe, for the reviewer and for whoever reads the migration later; without a reason it accepts nothing',
    fix: 'write the reason after the rule id: `-- bg:allow drop-column unused since v2.3 (all readers removed)`',
    acceptable: false,
  },
  'unused-directive': {
    id: 'unused-directive',
    title: 'a `bg:` comment that applies to nothing',
    severity: 'warning',
    dialects: BOTH,
    why: 'the comment accepts nothing: it is not on or directly above a statement with that finding, names no known rule, or is a `bg:contract` after the first statement',
    fix: 'put `-- bg:allow RULE reason` on the statement’s line or on the comment line(s) right above it (no blank line between), and `-- bg:contract` before the first statement',
    acceptable: false,
  },
};

export function isRuleId(s: string): s is RuleId {
  return (RULE_IDS as readonly string[]).includes(s);
}
