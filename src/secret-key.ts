// The installation's secret key, which encrypts what Kasa must read back but no copy of the
// database may reveal (TOTP secrets): SECRET_KEY when set, else generated once into
// DATA_DIR/secret-key (mode 0600), like the admin token. Instances sharing one PostgreSQL must
// share it, so a multi-instance install sets SECRET_KEY.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { DATA_DIR_MODE, DATA_FILE_MODE } from './data-dir.ts';

export const SECRET_KEY_FILE = 'secret-key';

export async function resolveSecretKey(configured: string | null, dataDir: string): Promise<string> {
  if (configured) return configured;
  const file = path.join(dataDir, SECRET_KEY_FILE);
  const existing = await readSecretKeyFile(file);
  if (existing) return existing;
  await fs.mkdir(dataDir, { recursive: true, mode: DATA_DIR_MODE });
  const key = randomBytes(32).toString('base64url');
  try {
    // 'wx': never overwrite a key another process wrote first (its ciphertexts would be lost).
    await fs.writeFile(file, key + '\n', { mode: DATA_FILE_MODE, flag: 'wx' });
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return (await readSecretKeyFile(file)) ?? key;
  }
}

async function readSecretKeyFile(file: string): Promise<string | null> {
  try {
    return (await fs.readFile(file, 'utf8')).trim() || null;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}
