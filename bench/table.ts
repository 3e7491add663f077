// `npx tsx bench/table.ts bench/results/<date>.json`: one bench run as a Markdown table, every
// figure as the run printed it with its reference from the same run, so the README's table of a
// full run is the run's own output rather than figures copied by hand.
import { readFileSync } from "node:fs";

interface Row {
  name: string;
  value: number;
  unit: string;
  reference?: string;
  ratio?: number;
}
interface Run {
  date: string;
  seconds: number;
  node: string;
  rows: Row[];
  failed: Array<{ section: string; error: string }>;
}

const file = process.argv[2];
if (!file) {
  process.stderr.write("usage: tsx bench/table.ts bench/results/<date>.json\n");
  process.exit(2);
}
const run = JSON.parse(readFileSync(file, "utf8")) as Run;

const number = (value: number) =>
  value.toLocaleString("en-US", { maximumFractionDigits: Math.abs(value) >= 100 ? 0 : value >= 10 ? 1 : 2 });
// A pipe in a figure's name would end its cell.
const cell = (text: string) => text.trim().replace(/\|/g, "\\|");

const out = [
  `Results written ${run.date} (Node ${run.node}, ${run.seconds} s per figure)`,
  "",
  "| figure | value | against its reference, same run |",
  "|---|---|---|",
  ...run.rows.map(
    (row) =>
      `| ${cell(row.name)} | ${number(row.value)} ${row.unit} | ${
        row.reference ? `${number(row.ratio! * 100)} % of ${cell(row.reference)}` : ""
      } |`,
  ),
];
if (run.failed.length) {
  out.push("", "Sections that failed:", ...run.failed.map((f) => `- ${f.section}: ${f.error}`));
}
process.stdout.write(`${out.join("\n")}\n`);
