// Runs the `kasa` program: its commands in this process (execute() with the command's own
// environment and output), or the real bin/kasa.js as a child process, as a user would.
import { execFile } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const KASA_BIN = path.join(REPO_ROOT, 'bin', 'kasa.js');
import { execute } from '../../src/cli/main.ts';

/**
 * Only a hang: a command takes well under a second, and a few on a machine whose cores are
 * busy with other work; this bound is far beyond either and only ends a stuck suite.
 */
export const HANG_MS = 5 * 60_000;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The environment of a child process: this one's, without what would change its behaviour
 * (the test runner's marker, the suite's DATABASE_URL, an ADMIN_TOKEN or DATA_DIR of the shell),
 * plus `extra`. A value of undefined removes a variable.
 */
export function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['NODE_TEST_CONTEXT', 'DATABASE_URL', 'ADMIN_TOKEN', 'DATA_DIR', 'KASA_URL', 'PORT']) delete env[name];
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/** `node bin/kasa.js ...args`; resolves with the exit code whatever it is. */
export async function kasaCli(args: string[], env: Record<string, string | undefined>): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [KASA_BIN, ...args], { cwd: REPO_ROOT, env: childEnv(env), timeout: HANG_MS });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: unknown; stdout?: string; stderr?: string; killed?: boolean };
    if (typeof e.code !== 'number') throw error;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/**
 * `kasa ...args` in this process: the command sees exactly `env` (nothing of this process's
 * environment) and its output is collected. For admin commands, which are HTTP clients.
 */
export async function kasaCommand(args: string[], env: Record<string, string | undefined>): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const defined = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined));
  const code = await execute(args, { env: defined, stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) });
  return { code, stdout, stderr };
}

/** A TCP port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
