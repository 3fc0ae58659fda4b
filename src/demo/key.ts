import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateKey } from '../access/index.ts';

/**
 * The demo key: TENURE_DEMO_KEY when set; otherwise one generated on the first start and
 * kept in .tenure/demo-key, because only its hash is in the database.
 */
export async function demoKey(fromEnv: string | undefined, file = path.resolve('.tenure/demo-key')): Promise<string> {
  if (fromEnv) return fromEnv;
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  const key = generateKey();
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, key + '\n', { mode: 0o600 });
  return key;
}
