import { BgError, ExitCode } from '../../errors.js';
import { DEFAULT_BACKUPS, localCopyDir } from '../../plan/backup-paths.js';
import { dbsOf, resolveHost, type ResolvedHost } from '../../plan/host-model.js';
import { quotePath, shellQuote } from '../../plan/quote.js';
import { call } from '../../plan/sh-lib.js';
import { withHosts, type HostArgs } from '../host-session.js';
import { oneLine } from '../sanitize.js';
import { findLocalCopies, type LocalCopyEntry } from '../local-copies.js';
import { localPath } from '../../run/offhost.js';
import { isAbsolute, relative } from 'node:path';

export interface BackupsArgs extends HostArgs {
  json?: boolean;
  /** Look for copies under this directory (DIR/HOST/ENV-RUNID.db or .pgdump) instead of the host's `backups.copy_to`. */
  copyTo?: string;
}

export interface BackupEntry {
  host: string;
  env: string;
  /** The run that took it (what `bg restore --backup` takes). */
  run: string;
  /** Another database of the env than its default (`dbs:`; file ENV-RUNID.NAME.db): its name (`bg restore --db`). */
  db?: string;
  file: string;
  /** Where it is on the host; null when only copies on this machine are left. */
  path: string | null;
  size: number;
  /** Modification time on the host (seconds since the epoch) and age by the host's clock. */
  modified: number;
  ageSeconds: number;
  /** Rows per table recorded when it was taken (`.counts`), if recorded. */
  rows: Record<string, number> | null;
  /** The last verification recorded beside it (`.verified`): when, and `ok` or why not. */
  verified: { at: string; result: string } | null;
  /** Copies on this machine (backups' copy_to), as absolute paths (what `bg restore --from-local` takes). */
  copies: Array<{ path: string; size: number; checksum: boolean }>;
}

/** The envs whose backups bg names: those with a database (SQLite `db`/`dbs`, or PostgreSQL). */
function backupEnvs(host: ResolvedHost): string[] {
  return Object.values(host.envs).filter((e) => e.db !== undefined || e.pg !== undefined).map((e) => e.name);
}

/** The read-only listing (bg_backups_list in src/remote/backup.sh): `@@now T`, then per backup `@@file NAME SIZE MTIME`, `@@count LINE`, `@@verified LINE`. */
export function listBackupsCommand(host: ResolvedHost): string {
  const dir = (host.backups ?? DEFAULT_BACKUPS).dir;
  const envs = backupEnvs(host);
  // Only bg's own names: ENV-RUNID.db, ENV-RUNID.NAME.db (dbs:), ENV-RUNID.pgdump (PostgreSQL); env names are [A-Za-z0-9_-], the run id as bg makes it.
  const pattern = `^(${envs.join('|') || '-'})-[0-9]{8}T[0-9]{6}(\\.[0-9]{3})?Z-[0-9A-Za-z]+((\\.[a-z][a-z0-9_]{0,31})?\\.db|\\.pgdump)$`;
  return host.commandPrefix + call('bg_backups_list', quotePath(dir), shellQuote(pattern));
}

/** Parse the listing's output (host text: only lines of the expected shapes are read). */
export function parseBackups(hostName: string, host: ResolvedHost, stdout: string): BackupEntry[] {
  const dir = (host.backups ?? DEFAULT_BACKUPS).dir;
  const envs = Object.keys(host.envs).sort((a, b) => b.length - a.length);
  let now = 0;
  const out: BackupEntry[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^@@(now|file|count|verified) (.*)$/.exec(line);
    if (!m) continue;
    const [, kind, rest] = m as unknown as [string, string, string];
    const last = out.at(-1);
    if (kind === 'now') now = Number(rest) || 0;
    else if (kind === 'file') {
      const f = /^(\S+) ([0-9]+) ([0-9]+)$/.exec(rest);
      if (!f) continue;
      const file = f[1]!;
      // The longest env name that prefixes it (an env `blue-2` must not be read as `blue`).
      const env = envs.find((e) => file.startsWith(`${e}-`) && /^[0-9]{8}T/.test(file.slice(e.length + 1)));
      if (!env) continue;
      const modified = Number(f[3]);
      // ENV-RUNID.db, ENV-RUNID.NAME.db for another database of the env (dbs:), ENV-RUNID.pgdump.
      const base = file.slice(env.length + 1, file.endsWith('.pgdump') ? -7 : -3);
      const named = file.endsWith('.db') ? /^(.*Z-[0-9A-Za-z]+)\.([a-z][a-z0-9_]{0,31})$/.exec(base) : null;
      out.push({ host: hostName, env, run: named ? named[1]! : base, ...(named ? { db: named[2]! } : {}), file, path: `${dir.replace(/\/+$/, '')}/${file}`, size: Number(f[2]), modified, ageSeconds: Math.max(0, now - modified), rows: null, verified: null, copies: [] });
    } else if (kind === 'count' && last) {
      // SQLite's counts are `table|N`, PostgreSQL's `schema.table N`.
      const i = rest.includes('|') ? rest.lastIndexOf('|') : rest.lastIndexOf(' ');
      // No prototype: a table may be named __proto__.
      if (i > 0) (last.rows ??= Object.create(null) as Record<string, number>)[rest.slice(0, i)] = Number(rest.slice(i + 1));
    } else if (kind === 'verified' && last) {
      const v = /^(\S+) (.*)$/.exec(rest);
      if (v) last.verified = { at: v[1]!, result: v[2]! };
    }
  }
  // Newest first: run ids sort by time.
  return out.sort((a, b) => (a.run < b.run ? 1 : a.run > b.run ? -1 : a.env.localeCompare(b.env) || (a.db ?? '').localeCompare(b.db ?? '')));
}

export function humanSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) (v /= 1024), i++;
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function humanAge(s: number): string {
  if (s < 90) return `${s}s`;
  if (s < 90 * 60) return `${Math.round(s / 60)}m`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

/**
 * Join the host's backups with the copies found on this machine: each copy goes to the backup of
 * the same env and run; a copy whose backup is gone from the host becomes an entry of its own.
 */
export function withCopies(hostName: string, onHost: BackupEntry[], copies: LocalCopyEntry[], now: number): BackupEntry[] {
  const out = onHost.map((b) => ({ ...b, copies: [...b.copies] }));
  for (const c of copies) {
    const copy = { path: c.path, size: c.size, checksum: c.checksum };
    const same = out.find((b) => b.env === c.env && b.run === c.run && b.db === c.db);
    if (same) same.copies.push(copy);
    else out.push({ host: hostName, env: c.env, run: c.run, ...(c.db !== undefined ? { db: c.db } : {}), file: c.file, path: null, size: c.size, modified: c.modified, ageSeconds: Math.max(0, now - c.modified), rows: null, verified: null, copies: [copy] });
  }
  return out.sort((a, b) => (a.run < b.run ? 1 : a.run > b.run ? -1 : a.env.localeCompare(b.env) || (a.db ?? '').localeCompare(b.db ?? '')));
}

/** A local path as short as it is clear: relative when under the current directory. */
function shown(p: string): string {
  const r = relative(process.cwd(), p);
  return r && !r.startsWith('..') && !isAbsolute(r) ? r : p;
}

/** `bg backups`: the backups on each host and their copies on this machine, newest first; read-only. */
export async function backupsCommand(args: BackupsArgs, write = (s: string) => process.stdout.write(s)): Promise<number> {
  const all: BackupEntry[] = [];
  await withHosts(args, async (hosts) => {
    for (const { name, config, transport } of hosts) {
      const host = resolveHost(name, config);
      const r = await transport.exec(listBackupsCommand(host), { timeoutMs: 60_000 });
      if (r.exitCode !== 0) throw new BgError(`cannot list the backups on ${name}: ${oneLine(r.stderr.trim() || `exit ${r.exitCode}`)}`, ExitCode.stepFailed);
      const copyTo = args.copyTo ?? host.backups?.copy_to;
      const copyDir = copyTo === undefined ? undefined : localPath(localCopyDir(copyTo, name));
      const envs = backupEnvs(host);
      const found = withCopies(name, parseBackups(name, host, r.stdout), copyDir ? findLocalCopies(copyDir, envs, Object.fromEntries(Object.values(host.envs).map((e) => [e.name, dbsOf(e).slice(1).map((d) => d.name)]))) : [], Math.floor(Date.now() / 1000));
      all.push(...found);
      if (args.json) continue;
      const dir = (host.backups ?? DEFAULT_BACKUPS).dir;
      const copiesNote = copyDir ? `; copies in ${shown(copyDir)}` : '';
      if (found.length === 0) {
        write(`${oneLine(name)}: no backups in ${oneLine(dir)}${oneLine(copiesNote)}\n`);
        continue;
      }
      const rows = found.map((b) => [
        b.db === undefined ? b.env : `${b.env} (db ${b.db})`,
        b.run,
        humanSize(b.size),
        humanAge(b.ageSeconds),
        b.rows ? String(Object.values(b.rows).reduce((x, y) => x + y, 0)) : '?',
        b.verified ? `${b.verified.result} (${b.verified.at})` : b.path ? 'not recorded' : '-',
        ...(copyDir ? [b.path ? 'yes' : 'no (copy only)', b.copies.map((c) => `${shown(c.path)}${c.checksum ? '' : ' (no .sha256)'}`).join(', ') || '-'] : []),
      ]);
      const head = ['ENV', 'RUN (--backup)', 'SIZE', 'AGE', 'ROWS', 'VERIFIED', ...(copyDir ? ['ON HOST', 'COPY (--from-local)'] : [])];
      const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
      const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
      const onHost = found.filter((b) => b.path).length;
      // Counts and verification lines are the host's text: shown, never obeyed by the terminal.
      write(`${oneLine(name)}: ${onHost} backup${onHost === 1 ? '' : 's'} in ${oneLine(dir)}${oneLine(copiesNote)}\n  ${line(head)}\n${rows.map((r) => `  ${oneLine(line(r))}`).join('\n')}\n`);
    }
  });
  if (args.json) write(JSON.stringify(all, null, 2) + '\n');
  return ExitCode.ok;
}
