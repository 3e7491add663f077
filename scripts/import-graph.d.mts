// Types for import-graph.mjs, so TypeScript tests can call it.
/** File (relative to src/, e.g. `audit/service.ts`) → the files it imports. */
export function importGraph(): Map<string, string[]>;
/** Module (top-level folder or file of src/, e.g. `audit`, `compose`) → the modules it imports. */
export function moduleGraph(graph?: Map<string, string[]>): Map<string, string[]>;
/** Strongly connected components with more than one member, each sorted. */
export function cycles(graph: Map<string, string[]>): string[][];
