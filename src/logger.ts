// pino, writing asynchronously so a request never waits on stdout.
import pino, { type Logger } from 'pino';
import type { LogLevel } from './config.ts';

export function createLogger(level: LogLevel): Logger {
  return pino(
    {
      level,
      base: { service: 'kasa' },
      // Belt and braces: no route logs headers, but a stray error object must not leak secrets.
      redact: ['req.headers["x-api-key"]', 'req.headers.authorization', 'api_key', 'webhook_secret'],
    },
    pino.destination({ dest: 1, sync: false }),
  );
}
