// `tsx bench/cpuprofile.ts [--top N] [--skip SECONDS] FILE.cpuprofile...`: where a V8 CPU profile
// (BENCH_PROFILE, `node --cpu-prof`) spent its time: self time by function, by file and by module
// (src/<dir>/, npm package, node:), and inclusive time of Keyward's own functions (which route,
// which service step), summed over every file given (a server's main thread and each worker write
// one). --skip leaves out each profile's first seconds (start-up: module loading, key checks).
// V8 samples a thread whenever it is not idle in the event loop, so a synchronous native call
// (better-sqlite3 with its fsync, a C_Sign) counts with its wall time: read shares, not CPU-µs.
import { readFileSync } from "node:fs";
import { basename } from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** Self time in µs per node id: each sample's time is the delta to the next sample. */
function selfTimes(profile: Profile, skipUs: number): Map<number, number> {
  const self = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  let at = 0;
  for (let i = 0; i < samples.length; i++) {
    at += deltas[i] ?? 0;
    if (at < skipUs) continue;
    const next = deltas[i + 1] ?? 0;
    self.set(samples[i]!, (self.get(samples[i]!) ?? 0) + Math.max(next, 0));
  }
  return self;
}

/** A stable short name for a script: its package under node_modules, else its path from the repo. */
function moduleOf(url: string): string {
  if (!url) return "(native / V8)";
  const path = url.replace(/^file:\/\//, "");
  const nm = path.lastIndexOf("/node_modules/");
  if (nm >= 0) {
    const rest = path.slice(nm + "/node_modules/".length).split("/");
    return `npm:${rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  if (path.startsWith("node:")) return path;
  const src = path.search(/\/(src|dist|bin|bench)\//);
  return src >= 0 ? path.slice(src + 1) : path;
}

function table(title: string, totals: Map<string, number>, all: number, top: number): void {
  process.stdout.write(`\n${title}\n`);
  const sorted = [...totals].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [name, us] of sorted)
    process.stdout.write(
      `${((us / all) * 100).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(7)} ms  ${name}\n`,
    );
}

function main(): void {
  const args = process.argv.slice(2);
  let top = 25;
  let skipUs = 0;
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--top") top = Number(args[++i]);
    else if (args[i] === "--skip") skipUs = Number(args[++i]) * 1e6;
    else files.push(args[i]!);
  }
  if (files.length === 0) {
    process.stderr.write("usage: tsx bench/cpuprofile.ts [--top N] [--skip SECONDS] FILE.cpuprofile...\n");
    process.exit(2);
  }
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  const byModule = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let all = 0;
  let idle = 0;
  const add = (map: Map<string, number>, key: string, us: number) => map.set(key, (map.get(key) ?? 0) + us);
  for (const file of files) {
    const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
    const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    // Keyward's own frames on a node's stack, each once (recursion must not count twice).
    const ownFrames = (id: number): Set<string> => {
      const frames = new Set<string>();
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const { functionName, url, lineNumber } = nodes.get(at)!.callFrame;
        const where = moduleOf(url);
        if (/^(src|dist)\//.test(where)) frames.add(`${functionName || "(anonymous)"} ${where}:${lineNumber + 1}`);
      }
      return frames;
    };
    let fileTotal = 0;
    for (const [id, us] of selfTimes(profile, skipUs)) {
      const { functionName, url, lineNumber } = nodes.get(id)!.callFrame;
      // (idle) is the event loop waiting: not CPU, left out of every share.
      if (functionName === "(idle)") {
        idle += us;
        continue;
      }
      all += us;
      fileTotal += us;
      const where = url ? `${moduleOf(url)}:${lineNumber + 1}` : "";
      add(byFunction, `${functionName || "(anonymous)"} ${where}`.trim(), us);
      add(byFile, url ? moduleOf(url) : functionName, us);
      add(byModule, url ? moduleOf(url).replace(/^(src|dist)\/([^/]+)\/.*/, "$1/$2/") : functionName, us);
      for (const frame of ownFrames(id)) add(inclusive, frame, us);
    }
    process.stdout.write(
      `${basename(file)}: ${(fileTotal / 1000).toFixed(0)} ms busy, ${((profile.endTime - profile.startTime) / 1e6).toFixed(1)} s profiled\n`,
    );
  }
  process.stdout.write(
    `total ${(all / 1000).toFixed(0)} ms busy (shares below), ${(idle / 1000).toFixed(0)} ms idle\n`,
  );
  table("self time by function", byFunction, all, top);
  table("self time by file", byFile, all, top);
  table("self time by module (src/<dir>/, npm package, node:)", byModule, all, top);
  table("inclusive time of Keyward's own functions", inclusive, all, top);
}

main();
