// The admin token: ADMIN_TOKEN when set, else generated once into DATA_DIR/admin-token (mode
// 0600) and read from there by the CLI on the same machine.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { DATA_DIR_MODE, DATA_FILE_MODE } from './data-dir.ts';

export const ADMIN_TOKEN_FILE = 'admin-token';

export async function resolveAdminToken(configured: string | null, dataDir: string): Promise<{ token: string; file: string | null }> {
  if (configured) return { token: configured, file: null };
  const file = path.join(dataDir, ADMIN_TOKEN_FILE);
  const existing = await readAdminTokenFile(dataDir);
  if (existing) return { token: existing, file };
  await fs.mkdir(dataDir, { recursive: true, mode: DATA_DIR_MODE });
  const token = `kasa_admin_${randomBytes(32).toString('base64url')}`;
  try {
    // 'wx': never overwrite a token another process wrote first.
    await fs.writeFile(file, token + '\n', { mode: DATA_FILE_MODE, flag: 'wx' });
    return { token, file };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return { token: (await readAdminTokenFile(dataDir)) ?? token, file };
  }
}

export async function readAdminTokenFile(dataDir: string): Promise<string | null> {
  try {
    const token = (await fs.readFile(path.join(dataDir, ADMIN_TOKEN_FILE), 'utf8')).trim();
    return token || null;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}
