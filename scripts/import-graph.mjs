// The import graph of src/: every relative import (type-only ones too) between files, and between
// modules (a module is a top-level folder of src/, or a top-level file). Prints the cycles it finds;
// `--json` prints them as JSON. Exit 1 when there is a cycle. Used by test/unit/import-cycles.test.ts.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "src");

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return files(path);
    return /\.tsx?$/.test(name) && !name.endsWith(".d.ts") ? [path] : [];
  });
}

// import … from "./x.js", export … from "./x.js", import("./x.js")
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+["'](\.[^"']+)["']|import\(\s*["'](\.[^"']+)["']\s*\)/g;

export function importGraph() {
  const graph = new Map();
  for (const file of files(src)) {
    const text = readFileSync(file, "utf8");
    const targets = new Set();
    for (const match of text.matchAll(IMPORT)) {
      const spec = match[1] ?? match[2];
      const target = resolve(dirname(file), spec).replace(/\.js$/, ".ts");
      targets.add(relative(src, target));
    }
    graph.set(
      relative(src, file),
      [...targets].filter((t) => t !== relative(src, file)),
    );
  }
  return graph;
}

const moduleOf = (file) => file.split("/")[0].replace(/\.ts$/, "");

export function moduleGraph(graph = importGraph()) {
  const modules = new Map();
  for (const [file, targets] of graph) {
    const from = moduleOf(file);
    if (!modules.has(from)) modules.set(from, new Set());
    for (const target of targets) if (moduleOf(target) !== from) modules.get(from).add(moduleOf(target));
  }
  return new Map([...modules].map(([name, set]) => [name, [...set]]));
}

/** Strongly connected components with more than one member (Tarjan), each sorted. */
export function cycles(graph) {
  let index = 0;
  const stack = [];
  const state = new Map();
  const found = [];
  const visit = (node) => {
    const entry = { index, low: index, onStack: true };
    index++;
    state.set(node, entry);
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      const seen = state.get(next);
      if (!seen) {
        visit(next);
        entry.low = Math.min(entry.low, state.get(next).low);
      } else if (seen.onStack) entry.low = Math.min(entry.low, seen.index);
    }
    if (entry.low === entry.index) {
      const component = [];
      let member;
      do {
        member = stack.pop();
        state.get(member).onStack = false;
        component.push(member);
      } while (member !== node);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return found;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const graph = importGraph();
  const result = { files: cycles(graph), modules: cycles(moduleGraph(graph)) };
  if (process.argv.includes("--json")) console.log(JSON.stringify(result, null, 2));
  else {
    for (const c of result.modules) console.log(`module cycle: ${c.join(" ↔ ")}`);
    for (const c of result.files) console.log(`file cycle: ${c.join(" ↔ ")}`);
    if (!result.modules.length && !result.files.length) console.log("no import cycles");
  }
  process.exit(result.modules.length || result.files.length ? 1 : 0);
}
