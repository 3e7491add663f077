export { DEFAULT_CONFIG_FILE, deepMerge, type LoadConfigOptions, listenAddress, loadConfig } from "./load.js";
export * from "./schema.js";
export { PRESET_SETTINGS } from "./presets.js";
export { readOperatorFile } from "./files.js";
