// The ops-gates command (bin/ops-gates.mjs runs this file with tsx): see `ops-gates --help`.
import { run } from './run.js';

process.exitCode = await run(process.argv.slice(2));
