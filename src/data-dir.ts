// DATA_DIR holds the embedded database (full card numbers, webhook secrets), the admin token and
// the demo keys, so it and everything Kasa writes under it are owner-only whatever the umask:
// directories 0700, files 0600.
import fs from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from './config.ts';

export const DATA_DIR_MODE = 0o700;
export const DATA_FILE_MODE = 0o600;
/** Group and other permission bits: none may be set on anything under DATA_DIR. */
const SHARED_BITS = 0o077;
const OTHERS_WRITE = 0o002;

/**
 * Files this process creates from now on are owner-only, whoever creates them (the embedded
 * PostgreSQL creates its relation and WAL files through Node's fs, with the process umask).
 */
export function restrictNewFiles(): void {
  process.umask(SHARED_BITS);
}

/**
 * Creates DATA_DIR owner-only, or checks an existing one. One that every user may write is
 * refused: anyone on the machine could have replaced the database or the admin token, so
 * tightening it now would hide that rather than prevent it. A group-writable one is accepted
 * (a service group sharing a volume is a deliberate setup, and the group is the operator's
 * choice); its contents are tightened by tightenDataDir like any other.
 */
export async function prepareDataDir(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: DATA_DIR_MODE });
  const stat = await fs.stat(dir);
  if (!stat.isDirectory()) throw new ConfigError(`DATA_DIR ${dir} is not a directory`);
  if (stat.mode & OTHERS_WRITE) {
    throw new ConfigError(
      `DATA_DIR ${dir} is writable by every user of this machine (mode ${octal(stat.mode)}): anyone could have replaced the database or the admin token. ` +
        `Check its contents, make it owner-only (chmod 700 ${dir}) and start again, or set DATA_DIR to another directory`,
    );
  }
}

/**
 * Takes group and other permissions off DATA_DIR and everything under it: files an older Kasa
 * wrote with the umask, and the embedded PostgreSQL's initial files, which it copies in with
 * mode 0666. Returns how many entries it changed. Symbolic links are left alone (their targets
 * are not Kasa's to change).
 */
export async function tightenDataDir(dir: string): Promise<number> {
  let changed = 0;
  const visit = async (entry: string): Promise<void> => {
    // The embedded database may remove a file of its own meanwhile (a recycled WAL segment).
    const stat = await fs.lstat(entry).catch(ignoreMissing);
    if (!stat || stat.isSymbolicLink()) return;
    if (stat.mode & SHARED_BITS) {
      if ((await fs.chmod(entry, stat.isDirectory() ? DATA_DIR_MODE : DATA_FILE_MODE).then(() => true, ignoreMissing)) === true) changed++;
    }
    if (stat.isDirectory()) {
      for (const name of (await fs.readdir(entry).catch(ignoreMissing)) ?? []) await visit(path.join(entry, name));
    }
  };
  await visit(dir);
  return changed;
}

function ignoreMissing(error: NodeJS.ErrnoException): undefined {
  if (error.code === 'ENOENT') return undefined;
  throw error;
}

const octal = (mode: number) => '0' + (mode & 0o777).toString(8);
