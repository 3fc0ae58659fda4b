/**
 * Tenure as a user runs it: `npm start` (src/main.ts) and the `tenure` CLI as real processes.
 * They can run from any folder (`cwd`): tsx and the sources are named by absolute paths, so
 * `.tenure/` (demo key, embedded data) lands in that folder as it would in a fresh clone.
 */
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TSX = import.meta.resolve('tsx');

export interface StartedTenure {
  url: string;
  /** stdout and stderr so far. */
  output(): string;
  stop(): Promise<number | null>;
}

/** Starts `npm start` and resolves once it printed its banner (rejects when it exits first). */
export function startTenure(env: Record<string, string | undefined>, options: { cwd?: string; timeoutMs?: number } = {}): Promise<StartedTenure> {
  const child = spawn(process.execPath, ['--import', TSX, path.join(REPO, 'src/main.ts')], {
    cwd: options.cwd ?? REPO,
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'warn', ...env } as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let exited = false;
  child.once('exit', () => { exited = true; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tenure did not start within ${options.timeoutMs ?? 60_000} ms:\n${output}`)), options.timeoutMs ?? 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = output.match(/Tenure is running at (http:\/\/\S+)/);
      if (match && output.includes('Demo account:')) {
        clearTimeout(timer);
        resolve({
          url: match[1],
          output: () => output,
          stop: () =>
            new Promise((done) => {
              if (exited) return done(child.exitCode);
              child.once('exit', (code) => done(code));
              child.kill('SIGTERM');
            }),
        });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tenure exited with ${code}:\n${output}`));
    });
  });
}

export interface Finished {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a process to its end; a non-zero exit is a result, not an error. */
export function runProcess(file: string, args: string[], options: { cwd?: string; env?: Record<string, string | undefined>; timeoutMs?: number; input?: string } = {}): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, {
      cwd: options.cwd ?? REPO,
      env: { ...process.env, ...options.env } as NodeJS.ProcessEnv,
      timeout: options.timeoutMs ?? 120_000,
      maxBuffer: 64 * 1024 * 1024,
    }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') return reject(Object.assign(error, { stdout, stderr }));
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** `npm run tenure -- …args`, as its own process. */
export function tenureCli(args: string[], options: { cwd?: string; env?: Record<string, string | undefined> } = {}): Promise<Finished> {
  return runProcess(process.execPath, ['--import', TSX, path.join(REPO, 'src/cli/index.ts'), ...args], { ...options, env: { LOG_LEVEL: 'silent', ...options.env } });
}
