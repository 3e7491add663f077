import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseDocument } from "yaml";
import type { PresetName } from "../config/index.js";

/**
 * Records the preset chosen at init in `<dataDir>/keyward.yaml` (keeping the operator's comments and
 * settings), so every later command and `serve` use the same defaults.
 */
export function storePreset(dataDir: string, preset: PresetName): string {
  // The file the configuration is read from (see loadConfig).
  const file = process.env.KEYWARD_CONFIG ?? join(dataDir, "keyward.yaml");
  const doc = parseDocument(existsSync(file) ? readFileSync(file, "utf8") : "");
  if (doc.contents === null) {
    doc.commentBefore = " Operator settings; they win over the preset (docs/handbook/profiles.md).";
  }
  doc.set("preset", preset);
  writeFileSync(file, String(doc), { mode: 0o600 });
  return file;
}
