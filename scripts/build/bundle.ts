// Bundles one action with esbuild into a single CommonJS file for the OpenWhisk Node.js 20 runtime,
// and zips it with a package.json whose main points at it: the only two files the action ships.
import { build } from "esbuild";
import { zipSync } from "fflate";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ActionEntry } from "./entries.ts";

export interface BuiltAction {
  name: string;
  /** dist/actions/<name>/index.js */
  bundlePath: string;
  /** dist/actions/<name>.zip */
  zipPath: string;
  bundleBytes: number;
  zipBytes: number;
  /** SHA-256 of the bundle, hex */
  sha256: string;
}

// A fixed timestamp makes the zip a function of its contents alone, so two builds of the same
// code give the same bytes.
const ZIP_MTIME = new Date("1980-01-01T00:00:00Z");

export async function bundleAction(action: ActionEntry, outDir: string): Promise<BuiltAction> {
  const dir = join(outDir, action.name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const bundlePath = join(dir, "index.js");
  await build({
    entryPoints: [action.entry],
    outfile: bundlePath,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    sourcemap: "external",
    minifySyntax: true,
    minifyWhitespace: true,
    keepNames: true,
    legalComments: "none",
    logLevel: "silent",
    // ESM dependencies that locate files through import.meta.url keep working in CommonJS.
    define: { "import.meta.url": "__import_meta_url" },
    banner: { js: '"use strict";var __import_meta_url=require("url").pathToFileURL(__filename).href;' },
  });
  const manifest = JSON.stringify({ name: action.name, main: "index.js" }, null, 2) + "\n";
  // The same package.json beside the bundle makes dist/actions/<name>/ a CommonJS package of its own.
  writeFileSync(join(dir, "package.json"), manifest);
  const bundle = readFileSync(bundlePath);
  const zip = zipSync(
    { "package.json": [Buffer.from(manifest), { mtime: ZIP_MTIME }], "index.js": [bundle, { mtime: ZIP_MTIME }] },
    { level: 9 },
  );
  const zipPath = join(outDir, `${action.name}.zip`);
  writeFileSync(zipPath, zip);
  return {
    name: action.name,
    bundlePath,
    zipPath,
    bundleBytes: bundle.length,
    zipBytes: zip.length,
    sha256: createHash("sha256").update(bundle).digest("hex"),
  };
}

export async function bundleActions(actions: ActionEntry[], outDir: string): Promise<BuiltAction[]> {
  mkdirSync(outDir, { recursive: true });
  const built: BuiltAction[] = [];
  // One at a time: esbuild is already parallel inside, and errors then name one action.
  for (const a of actions) {
    try {
      built.push(await bundleAction(a, outDir));
    } catch (err) {
      throw new Error(`bundling action ${a.name} (${a.entry}) failed: ${(err as Error).message}`);
    }
  }
  return built;
}
