export type { DailyCount, OverviewStore } from "./ports.js";
export { type CaHealth, type Overview, OverviewService, type OverviewSettings, type Warning } from "./service.js";
export { overviewView } from "./views.js";
