// Real `kasa serve` processes (bin/kasa.js) on a PostgreSQL database, for tests that kill,
// restart or run several of them: spawn, wait for /readyz, SIGKILL, stop. Every process spawned
// here is SIGKILLed when this process exits, whatever the reason, so none outlives its test.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { childEnv, HANG_MS, KASA_BIN, REPO_ROOT } from './cli.ts';

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers run synchronously: kill() is synchronous, waiting is not possible here.
  process.on('exit', () => killAllKasaProcesses());
}

/** SIGKILLs every Kasa process spawned by this process that is still running. */
export function killAllKasaProcesses(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

export interface KasaProcessOptions {
  databaseUrl: string;
  port: number;
  adminToken: string;
  dataDir: string;
  /** serve --role (default all: HTTP API and workers in one process). */
  role?: 'api' | 'worker' | 'all';
  /** More environment (LOG_LEVEL, PUBLIC_URL, …); undefined removes a variable. */
  env?: Record<string, string | undefined>;
}

const STDERR_TAIL_MAX = 4_000;

/** The kernel's ephemeral port range (listen(0) and outgoing connections take ports from it). */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low && high) return [low, high];
  } catch {
    // not Linux
  }
  return [32_768, 60_999];
}

async function canListen(port: number): Promise<boolean> {
  const server = net.createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A free port below the ephemeral range, for a process that is killed and restarted on the same
 * port: while it is down, a port from freePort() (listen(0)) could be handed to any other
 * process starting meanwhile (another test's server), and requests meant for Kasa would reach
 * it. Ports below the range are only ever taken by name.
 */
export async function restartablePort(): Promise<number> {
  const [low] = ephemeralRange();
  const top = Math.max(11_000, low - 1);
  const bottom = Math.max(10_000, top - 15_000);
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = bottom + Math.floor(Math.random() * (top - bottom));
    if (await canListen(port)) return port;
  }
  throw new Error('no free port found below the ephemeral range');
}

export class KasaProcess {
  readonly url: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private stderrTail = '';

  private constructor(
    readonly child: ChildProcess,
    readonly options: KasaProcessOptions,
  ) {
    this.url = `http://127.0.0.1:${options.port}`;
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-STDERR_TAIL_MAX);
    });
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        live.delete(child);
        resolve({ code, signal });
      }),
    );
  }

  /** Spawns `kasa serve` listening on 127.0.0.1:port; call ready() to wait for it. */
  static spawn(options: KasaProcessOptions): KasaProcess {
    installExitHook();
    const child = spawn(process.execPath, [KASA_BIN, 'serve', '--role', options.role ?? 'all'], {
      cwd: REPO_ROOT,
      env: childEnv({
        DATABASE_URL: options.databaseUrl,
        PORT: String(options.port),
        HOST: '127.0.0.1',
        PUBLIC_URL: `http://127.0.0.1:${options.port}`,
        ADMIN_TOKEN: options.adminToken,
        LOG_LEVEL: 'warn',
        WEBHOOK_ALLOW_PRIVATE: 'true',
        DATA_DIR: options.dataDir,
        ...options.env,
      }),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    live.add(child);
    return new KasaProcess(child, options);
  }

  /** Spawns and waits until /readyz answers 200. */
  static async start(options: KasaProcessOptions, timeoutMs = HANG_MS): Promise<KasaProcess> {
    const kasa = KasaProcess.spawn(options);
    await kasa.ready(timeoutMs);
    return kasa;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The last few KB the process wrote to stderr (its warn/error log lines). */
  get stderr(): string {
    return this.stderrTail;
  }

  /**
   * Polls GET /readyz every 100 ms until it answers 200; fails at once if the process exits.
   * The bound only catches a hang: start-up takes seconds, more on a loaded machine.
   */
  async ready(timeoutMs = HANG_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`kasa (pid ${this.pid}) exited before it was ready: ${this.stderrTail}`);
      try {
        const res = await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(2_000) });
        await res.arrayBuffer();
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`kasa (pid ${this.pid}) not ready after ${timeoutMs} ms: ${this.stderrTail}`);
  }

  /** kill -9, and waits (bounded) until the process is gone. */
  async kill(timeoutMs = 10_000): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.waitExit(timeoutMs);
  }

  /** SIGTERM (graceful: in-flight requests finish), SIGKILL if still running after timeoutMs. */
  async stop(timeoutMs = 12_000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    if (
      await this.waitExit(timeoutMs).then(
        () => true,
        () => false,
      )
    )
      return;
    await this.kill();
  }

  private async waitExit(timeoutMs: number): Promise<void> {
    if (!this.running) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.exited,
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`kasa (pid ${this.pid}) still running after ${timeoutMs} ms`)), timeoutMs))),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * `kasa ...args` as an operator runs it (on PGlite unless env says otherwise), with everything
 * it prints. Waits are for what the process prints or for its exit, never for a guessed time:
 * their bound, HANG_MS, only ends a hung test.
 */
export class ServeProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;

  /** umask: the shell's umask the process starts with (octal, e.g. "022"). */
  constructor(args: string[], env: Record<string, string | undefined>, options: { umask?: string } = {}) {
    installExitHook();
    const [command, argv] = options.umask
      ? ['/bin/sh', ['-c', `umask ${options.umask} && exec "$0" "$@"`, process.execPath, KASA_BIN, ...args]]
      : [process.execPath, [KASA_BIN, ...args]];
    this.child = spawn(command as string, argv as string[], { cwd: REPO_ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this.child);
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.stdout += chunk));
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        live.delete(this.child);
        resolve({ code, signal });
      }),
    );
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves once stdout matches; fails if the process exits first. */
  async waitForOutput(pattern: RegExp): Promise<RegExpMatchArray> {
    let onData: (() => void) | undefined;
    try {
      return await bounded(
        Promise.race([
          new Promise<RegExpMatchArray>((resolve) => {
            onData = () => {
              const match = this.stdout.match(pattern);
              if (match) resolve(match);
            };
            this.child.stdout!.on('data', onData);
            onData();
          }),
          this.exited.then(({ code, signal }) => {
            throw new Error(`kasa exited (code ${code}, signal ${signal}) before printing ${pattern}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
          }),
        ]),
        () => `no ${pattern} (hung?)\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`,
      );
    } finally {
      if (onData) this.child.stdout!.off('data', onData);
    }
  }

  /** Resolves with the exit once the process has ended by itself. */
  async exit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return bounded(this.exited, () => `kasa still running (hung?)\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
  }

  /** SIGTERM; resolves with the exit code once the process is gone. */
  async stop(): Promise<number | null> {
    if (this.running) this.child.kill('SIGTERM');
    return (await this.exit()).code;
  }

  /** Last resort in cleanup: this test's own child, by its handle. */
  kill(): void {
    if (this.running) this.child.kill('SIGKILL');
  }
}

async function bounded<T>(work: Promise<T>, hung: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(hung())), HANG_MS)))]);
  } finally {
    clearTimeout(timer);
  }
}
