// What every browser test shares: Debian's chromium driven by playwright-core, the flags that
// keep it off this machine's closed network, where screenshots go, and a free port for Kasa to
// listen on (so PUBLIC_URL can name it first). Outside CI a machine without chromium skips the
// browser tests; in CI a missing browser is a failure.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-gpu'];
export const SCREENSHOTS_DIR = path.resolve('test-results');

export const chromiumMissing = !existsSync(CHROMIUM_PATH);
export const MISSING = `no chromium at ${CHROMIUM_PATH}: \`apt-get install chromium\` installs it`;

/** Registers the CI-only failure for a missing browser; call once at a browser test file's top. */
export function chromiumRequiredInCi(): void {
  if (chromiumMissing && process.env.CI) test('chromium is installed (CI)', () => assert.fail(MISSING));
}

/** launch() gives the browser a fresh temporary profile of its own and removes it on close. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
}

/** A port nobody listens on right now, so PUBLIC_URL can name it before Kasa listens on it. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
