#!/usr/bin/env node
// The CLI runs the compiled code; `npm start` and `npm test` build it when sources change.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const main = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));
if (!existsSync(main)) {
  process.stderr.write("keyward: the build is missing; run `npm run build` (or `npm start`) first\n");
  process.exit(2);
}
await import(main);
