#!/usr/bin/env node
// The npm bin: runs the compiled CLI (clients/cli/src/main.ts, built by `npm run build`).
import { main } from "../dist/src/main.js";

process.exitCode = await main(process.argv.slice(2));
