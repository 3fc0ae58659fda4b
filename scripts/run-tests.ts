/**
 * `npm test`: finds a PostgreSQL (DATABASE_URL's server, or a throw-away embedded one),
 * migrates a template database once, and runs every test file with node:test. Each test
 * file clones the template into its own database, so files run in parallel in isolation.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createPool } from '../src/platform/db.ts';
import { startEmbeddedPostgres, type EmbeddedServer } from '../src/platform/embedded.ts';
import { migrate } from '../src/platform/migrate.ts';

async function findTests(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await findTests(full)));
    else if (entry.name.endsWith('.test.ts')) files.push(full);
  }
  return files.sort();
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = '/' + database;
  return u.toString();
}

async function main(): Promise<number> {
  const requested = process.argv.slice(2);
  const files = requested.length ? requested : await findTests('test');
  let embedded: EmbeddedServer | null = null;
  let tmpDir: string | null = null;
  let serverUrl = process.env.DATABASE_URL;
  if (serverUrl) {
    console.log(`tests: using the PostgreSQL server of DATABASE_URL (${new URL(serverUrl).host})`);
  } else {
    tmpDir = await mkdtemp(path.join(os.tmpdir(), 'tenure-test-pg-'));
    // As root the server runs as the postgres user, which must be able to enter the folder.
    await chmod(tmpDir, 0o755);
    embedded = await startEmbeddedPostgres({ dataDir: path.join(tmpDir, 'data'), port: 0, persistent: false });
    serverUrl = embedded.baseUrl;
    console.log('tests: using a throw-away embedded PostgreSQL');
  }
  const template = `tenure_tpl_${process.pid}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`drop database if exists ${template}`);
  await admin.query(`create database ${template}`);
  const pool = createPool(withDatabase(serverUrl, template), 2);
  await migrate(pool);
  await pool.end();

  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], {
      stdio: 'inherit',
      env: { ...process.env, TENURE_TEST_SERVER_URL: serverUrl, TENURE_TEST_TEMPLATE: template },
    });
    child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0)));
  });

  await admin.query(`drop database if exists ${template}`).catch(() => {});
  await admin.end();
  if (embedded) await embedded.stop();
  if (tmpDir) await rm(tmpDir, { recursive: true, force: true }).catch(() => {});
  return code;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
