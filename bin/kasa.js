#!/usr/bin/env node
// Entry of the `kasa` program. Kasa is written in TypeScript and run through tsx's loader, so
// a clone needs no build step between `npm ci` and `npm start`.
import { register } from 'tsx/esm/api';

register();
const { run } = await import('../src/cli/main.ts');
await run(process.argv.slice(2));
