// @peculiar/x509 resolves services through tsyringe, which needs the Reflect polyfill loaded first.
import "reflect-metadata";
import { buildProgram } from "./program.js";
import { VERSION } from "../version.js";
import { reportError } from "./output.js";

// Everything Keyward writes (the database and its WAL/SHM, the witness, PIN files, exports) holds
// state or secrets: owner-only (files 0600, directories 0700), whatever umask it was started with.
process.umask(0o077);

const first = process.argv[2];
try {
  if (first === "--version" || first === "-V") process.stdout.write(`${VERSION}\n`);
  else await buildProgram().parseAsync(process.argv);
} catch (error) {
  process.exitCode = reportError(error, process.argv.includes("--json"));
}
