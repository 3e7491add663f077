// @peculiar/x509 resolves services through tsyringe, which needs the Reflect polyfill loaded first.
import "reflect-metadata";
import { buildProgram } from "./program.js";
import { reportError } from "./output.js";

try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  process.exitCode = reportError(error, process.argv.includes("--json"));
}
