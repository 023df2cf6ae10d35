import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Debian's server binaries (postgresql-NN); the newest installed major. */
export function pgBinDir(): string {
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root) ? readdirSync(root).filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a)) : [];
  if (!majors[0]) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql (global-setup installs `postgresql`)');
  return join(root, majors[0], 'bin');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

export interface PgCluster {
  host: string;
  port: number;
  /** A role with a password and CREATEDB, connecting over TCP (scram-sha-256). */
  user: string;
  password: string;
  /** psql as the cluster's superuser over the unix socket, SQL on stdin. */
  psql(database: string, sql: string): Promise<string>;
  /** A database owned by `user`, and `sql` run in it as that role (so bg's role owns what it makes). */
  createDatabase(name: string, sql?: string): Promise<void>;
  /** The inventory's `db:` for a database of this cluster (in a YAML text: JSON.stringify of it). */
  inventoryDb(database: string, passwordVar?: string): { postgres: { host: string; port: number; database: string; user: string; password_var: string } };
  /** The libpq variables an app's .env names this cluster's database with (the example app reads them). */
  clientEnv(database: string): Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Its own cluster in a temp directory: initdb as the `postgres` user (initdb refuses root), unix
 * socket in the temp directory, TCP on 127.0.0.1 and a free port with password auth.
 */
export async function startPgCluster(opts: { durable?: boolean } = {}): Promise<PgCluster> {
  const bin = pgBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'bg-pg-'));
  const data = join(dir, 'data');
  const sock = join(dir, 'sock');
  mkdirSync(sock);
  const asPg = process.getuid?.() === 0 ? (cmd: string, args: string[]) => run('runuser', ['-u', 'postgres', '--', cmd, ...args]) : (cmd: string, args: string[]) => run(cmd, args);
  const { stdout: pgUid } = await run('id', ['-u', 'postgres']).catch(() => ({ stdout: '' }));
  const { stdout: pgGid } = await run('id', ['-g', 'postgres']).catch(() => ({ stdout: '' }));
  if (pgUid.trim()) {
    chownSync(dir, Number(pgUid), Number(pgGid));
    chownSync(sock, Number(pgUid), Number(pgGid));
  }
  await asPg(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C.UTF-8']);
  const port = await freePort();
  // Tests trade durability for speed; benchmarks measure a cluster as a host runs it (`durable`).
  const serverOpts = `-p ${port} -k ${sock} -c listen_addresses=127.0.0.1${opts.durable ? '' : ' -c fsync=off -c full_page_writes=off'}`;
  await asPg(join(bin, 'pg_ctl'), ['-D', data, '-l', join(dir, 'log'), '-w', '-o', serverOpts, 'start']);
  const psql = async (database: string, sql: string) => {
    // execFile kills a child past maxBuffer (1 MB by default): a test may read many rows.
    const p = execFile('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', sock, '-p', String(port), '-U', 'postgres', '-d', database], { maxBuffer: 512 * 1024 * 1024 });
    const out = new Promise<string>((resolve, reject) => {
      let o = '';
      let e = '';
      p.stdout!.on('data', (d) => (o += d));
      p.stderr!.on('data', (d) => (e += d));
      p.on('close', (code) => (code === 0 ? resolve(o) : reject(new Error(`psql ${database} exited ${code}: ${e}`))));
    });
    p.stdin!.end(sql);
    return out;
  };
  const password = "pw 'with' $(quotes) -x";
  await psql('postgres', `CREATE ROLE bg LOGIN CREATEDB PASSWORD '${password.replace(/'/g, "''")}';`);
  const ident = (n: string) => `"${n.replace(/"/g, '""')}"`;
  return {
    host: '127.0.0.1',
    port,
    user: 'bg',
    password,
    psql,
    async createDatabase(name, sql) {
      await psql('postgres', `CREATE DATABASE ${ident(name)} OWNER bg;`);
      if (sql) await psql(name, `SET ROLE bg;\n${sql}`);
    },
    inventoryDb: (database, passwordVar = 'pgpw') => ({ postgres: { host: '127.0.0.1', port, database, user: 'bg', password_var: passwordVar } }),
    clientEnv: (database) => ({ PGHOST: '127.0.0.1', PGPORT: String(port), PGUSER: 'bg', PGPASSWORD: password, PGDATABASE: database }),
    async stop() {
      await asPg(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
