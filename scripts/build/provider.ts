// The feed provider as one bundle (dist/provider/), the same code `npm run provider` runs, for the
// container image: main.cjs, healthcheck.cjs, and a package.json naming the one native dependency
// that cannot be bundled (better-sqlite3; PostgreSQL's pg is plain JavaScript and bundled).
import { build } from "esbuild";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const PROVIDER_EXTERNALS = ["better-sqlite3", "pg-native", "bufferutil", "utf-8-validate"];

export async function bundleProvider(projectDir: string, outDir: string): Promise<{ main: string; bytes: number }> {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const common = {
    bundle: true,
    platform: "node" as const,
    target: "node20",
    format: "cjs" as const,
    absWorkingDir: projectDir,
    external: PROVIDER_EXTERNALS,
    sourcemap: "external" as const,
    logLevel: "silent" as const,
    define: { "import.meta.url": "__import_meta_url" },
    banner: { js: '"use strict";var __import_meta_url=require("url").pathToFileURL(__filename).href;' },
  };
  await build({ ...common, entryPoints: [join(projectDir, "feeds/provider/main.ts")], outfile: join(outDir, "main.cjs") });
  await build({
    ...common,
    entryPoints: [join(projectDir, "scripts/build/provider-healthcheck.ts")],
    outfile: join(outDir, "healthcheck.cjs"),
  });
  const lock = JSON.parse(readFileSync(join(projectDir, "package-lock.json"), "utf8"));
  const version = lock.packages["node_modules/better-sqlite3"].version as string;
  writeFileSync(
    join(outDir, "package.json"),
    `${JSON.stringify({ name: "feed-provider", private: true, main: "main.cjs", dependencies: { "better-sqlite3": version } }, null, 2)}\n`,
  );
  return { main: join(outDir, "main.cjs"), bytes: readFileSync(join(outDir, "main.cjs")).length };
}
