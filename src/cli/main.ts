// @peculiar/x509 resolves services through tsyringe, which needs the Reflect polyfill loaded first.
import "reflect-metadata";
import { buildProgram } from "./program.js";
import { VERSION } from "../version.js";
import { reportError } from "./output.js";

const first = process.argv[2];
try {
  if (first === "--version" || first === "-V") process.stdout.write(`${VERSION}\n`);
  else await buildProgram().parseAsync(process.argv);
} catch (error) {
  process.exitCode = reportError(error, process.argv.includes("--json"));
}
