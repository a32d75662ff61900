// Type errors fail the build: runs tsc --noEmit on the folder's tsconfig.json and throws its report.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

/** Returns false when the folder has no tsconfig.json (nothing to check), throws on type errors. */
export function typecheck(projectDir: string): boolean {
  if (!existsSync(join(projectDir, "tsconfig.json"))) return false;
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  const r = spawnSync(process.execPath, [tsc, "--noEmit", "-p", projectDir], { encoding: "utf8" });
  if (r.status !== 0) {
    throw new Error(`type check failed (tsc --noEmit):\n${(r.stdout + r.stderr).trim()}\nFix the type errors above, then build again.`);
  }
  return true;
}
