#!/usr/bin/env node
// ops-gates: runs src/cli/main.ts through tsx's ESM loader, in this process (signals, exit code
// and TTY detection stay the user's), from wherever it is invoked.
import { register } from 'tsx/esm/api';

register();
await import(new URL('../src/cli/main.ts', import.meta.url).href);
