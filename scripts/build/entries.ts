// Which actions the project has: every functions/<name>/index.ts, and the dCache feed action.
import { existsSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";

export interface ActionEntry {
  /** the action's bundle name: dist/actions/<name>/ */
  name: string;
  /** absolute path of the TypeScript entry that exports main */
  entry: string;
}

export const FEED_ACTION = "dcache-feed";

export function projectEntries(root: string): ActionEntry[] {
  const entries: ActionEntry[] = [];
  const functionsDir = join(root, "functions");
  if (existsSync(functionsDir)) {
    for (const name of readdirSync(functionsDir).sort()) {
      const entry = join(functionsDir, name, "index.ts");
      if (existsSync(entry)) entries.push({ name, entry });
    }
  }
  const feed = join(root, "feeds", "dcache", "index.ts");
  if (existsSync(feed)) entries.push({ name: FEED_ACTION, entry: feed });
  return entries;
}

/**
 * The entry behind a serverless handler such as `functions/hello/index.main`: the module path before
 * the last dot, as a .ts (or .js) file relative to the service folder.
 */
export function entryOfHandler(serviceDir: string, name: string, handler: string): ActionEntry {
  const lastDot = handler.lastIndexOf(".");
  if (lastDot <= 0) {
    throw new Error(`handler "${handler}" of function ${name} must be <path>.<exported function>, e.g. functions/${name}/index.main`);
  }
  const modulePath = handler.slice(0, lastDot);
  for (const ext of [".ts", ".js", ".mjs", ".cjs"]) {
    const file = resolve(serviceDir, modulePath + ext);
    if (existsSync(file)) return { name, entry: file };
  }
  throw new Error(`handler "${handler}" of function ${name}: no ${modulePath}.ts (or .js) in ${serviceDir}`);
}

/** The exported function a handler names (`functions/hello/index.main` → `main`). */
export function mainOfHandler(handler: string): string {
  return handler.slice(handler.lastIndexOf(".") + 1);
}
