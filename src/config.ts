// The only reader of process.env. Every setting is validated at start; a bad value stops
// start-up with a message naming the variable, never a half-configured server.
import os from 'node:os';
import path from 'node:path';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  port: number;
  host: string;
  /** Base of payment links, without a trailing slash. */
  publicUrl: string;
  /** PostgreSQL server; null means the embedded database under dataDir. */
  databaseUrl: string | null;
  /** Connections each instance keeps to the PostgreSQL server at most. */
  databasePoolSize: number;
  /** Further connections on which the hot path's single statements are pipelined; 0: none. */
  databasePipelines: number;
  dataDir: string;
  /** Null: generated once into dataDir/admin-token. */
  adminToken: string | null;
  /** Encrypts TOTP secrets; null: generated once into dataDir/secret-key. */
  secretKey: string | null;
  invoiceTtlMinutes: number;
  logLevel: LogLevel;
  webhookAllowPrivate: boolean;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function boolean(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (['true', '1', 'yes'].includes(raw.toLowerCase())) return true;
  if (['false', '0', 'no'].includes(raw.toLowerCase())) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

function httpUrl(name: string, raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be an absolute http(s) URL, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${name} must be an http(s) URL, got "${raw}"`);
  }
  return raw.replace(/\/+$/, '');
}

/**
 * PostgreSQL does the most work with about two busy connections per core; more only make its
 * backends contend for locks and CPU (measured: create-invoice on a 2-core machine ran ~20 %
 * faster with 4-6 connections than with 20). Without better knowledge the database is taken to
 * be as large as this machine, which holds for the usual self-hosted install on one host.
 */
export function defaultPoolSize(): number {
  return 2 * os.availableParallelism() + 1;
}

const PIPELINES_MAX = 64;

/**
 * One pipelined connection per core: each keeps one server backend busy with the hot path's
 * statements (measured on 2 cores: 2-4 ran create-invoice equally fast, 1 was ~15 % slower; the
 * payment page ran best on 1-2). As for the pool, the database is taken to be this machine's size.
 */
export function defaultPipelines(): number {
  return Math.min(os.availableParallelism(), PIPELINES_MAX);
}

/**
 * defaults: values used where the environment says nothing (the demo listens on 127.0.0.1 only
 * and allows private webhook targets).
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, defaults: Partial<Pick<Config, 'webhookAllowPrivate' | 'host'>> = {}): Config {
  const port = integer(env, 'PORT', 3000, 0, 65535);
  const host = env.HOST || defaults.host || '0.0.0.0';
  const databaseUrl = env.DATABASE_URL || null;
  if (databaseUrl !== null && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL must be a postgres:// or postgresql:// URL');
  }
  const logLevel = (env.LOG_LEVEL || 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${env.LOG_LEVEL}"`);
  }
  const adminToken = env.ADMIN_TOKEN || null;
  if (adminToken !== null && adminToken.length < 16) {
    throw new ConfigError('ADMIN_TOKEN must be at least 16 characters long');
  }
  const secretKey = env.SECRET_KEY || null;
  if (secretKey !== null && secretKey.length < 32) {
    throw new ConfigError('SECRET_KEY must be at least 32 characters long (e.g. openssl rand -base64 32)');
  }
  return {
    port,
    host,
    publicUrl: httpUrl('PUBLIC_URL', env.PUBLIC_URL || `http://localhost:${port}`),
    databaseUrl,
    databasePoolSize: integer(env, 'DATABASE_POOL_SIZE', defaultPoolSize(), 1, 1000),
    databasePipelines: integer(env, 'DATABASE_PIPELINES', defaultPipelines(), 0, PIPELINES_MAX),
    dataDir: path.resolve(env.DATA_DIR || './data'),
    adminToken,
    secretKey,
    invoiceTtlMinutes: integer(env, 'INVOICE_TTL_MINUTES', 20, 1, 1440),
    logLevel,
    webhookAllowPrivate: boolean(env, 'WEBHOOK_ALLOW_PRIVATE', defaults.webhookAllowPrivate ?? false),
  };
}
