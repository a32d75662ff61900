// Bundles one action with esbuild into a single CommonJS file for the OpenWhisk Node.js 20 runtime,
// and zips it with a package.json whose main points at it: the only files the action ships, besides
// hdf5.wasm and the HDF5 library's initialised memory for actions that read HDF5 (loaded from beside
// the bundle, see wasm-sibling.ts and hdf5-image.ts).
import { build } from "esbuild";
import { zipSync } from "fflate";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import type { ActionEntry } from "./entries.ts";
import { precompiledValidators } from "./validators.ts";
import { hdf5Image, IMAGE_FILE } from "./hdf5-image.ts";
import { wasmSibling, WASM_FILE } from "./wasm-sibling.ts";
import { bundledDependencies, gitState, repositoryOf, RUNTIME_KIND, type GitState, type Provenance } from "./provenance.ts";

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
  provenance: Provenance;
}

export interface BundleOptions {
  /** the project (or serverless service) folder: paths, lockfile and git state are taken from it */
  projectDir: string;
  /** the content-addressed store: <storeDir>/<bundle sha256>.zip and .json; default <outDir>/../store */
  storeDir?: string;
  git?: GitState;
}

// A fixed timestamp makes the zip a function of its contents alone, so two builds of the same
// code give the same bytes.
const ZIP_MTIME = new Date("1980-01-01T00:00:00Z");

export async function bundleAction(action: ActionEntry, outDir: string, opts: BundleOptions): Promise<BuiltAction> {
  const dir = join(outDir, action.name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const bundlePath = join(dir, "index.js");
  const sibling = wasmSibling();
  const result = await build({
    absWorkingDir: opts.projectDir,
    metafile: true,
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
    plugins: [sibling.plugin, precompiledValidators(action.entry, opts.projectDir)],
    // ESM dependencies that locate files through import.meta.url keep working in CommonJS.
    define: { "import.meta.url": "__import_meta_url" },
    banner: { js: '"use strict";var __import_meta_url=require("url").pathToFileURL(__filename).href;' },
  });
  const manifest = `${JSON.stringify({ name: action.name, main: "index.js" }, null, 2)}\n`;
  // The same package.json beside the bundle makes dist/actions/<name>/ a CommonJS package of its own.
  writeFileSync(join(dir, "package.json"), manifest);
  const bundle = readFileSync(bundlePath);
  const h5 = sibling.wasm();
  const files: Record<string, Uint8Array> = { "package.json": Buffer.from(manifest), "index.js": bundle };
  if (h5) {
    files[WASM_FILE] = h5.bytes;
    files[IMAGE_FILE] = hdf5Image(h5.loaderPath, h5.bytes.length);
    for (const f of [WASM_FILE, IMAGE_FILE]) writeFileSync(join(dir, f), files[f]!);
  }
  const zip = zipSync(
    Object.fromEntries(
      Object.entries(files).map(([name, bytes]) => [name, [bytes, { mtime: ZIP_MTIME }] as [Uint8Array, { mtime: Date }]]),
    ),
    { level: 9 },
  );
  const zipPath = join(outDir, `${action.name}.zip`);
  writeFileSync(zipPath, zip);
  const sha256 = createHash("sha256").update(bundle).digest("hex");
  const provenance: Provenance = {
    action: action.name,
    bundleSha256: sha256,
    zipSha256: createHash("sha256").update(zip).digest("hex"),
    kind: RUNTIME_KIND,
    source: relative(opts.projectDir, action.entry).split(sep).join("/"),
    git: opts.git ?? gitState(opts.projectDir),
    dependencies: bundledDependencies(result.metafile!, opts.projectDir),
    repository: repositoryOf(opts.projectDir),
  };
  writeFileSync(join(dir, "provenance.json"), `${JSON.stringify(provenance, null, 2)}\n`);
  storeVersion(opts.storeDir ?? join(dirname(outDir), "store"), zipPath, provenance);
  return { name: action.name, bundlePath, zipPath, bundleBytes: bundle.length, zipBytes: zip.length, sha256, provenance };
}

/** Keeps every built version by its bundle hash, so an activation can be re-run with the exact code. */
function storeVersion(storeDir: string, zipPath: string, provenance: Provenance): void {
  mkdirSync(storeDir, { recursive: true });
  const base = join(storeDir, provenance.bundleSha256);
  if (!existsSync(`${base}.zip`)) copyFileSync(zipPath, `${base}.zip`);
  writeFileSync(`${base}.json`, `${JSON.stringify(provenance, null, 2)}\n`);
}

export async function bundleActions(actions: ActionEntry[], outDir: string, opts: BundleOptions): Promise<BuiltAction[]> {
  mkdirSync(outDir, { recursive: true });
  const git = opts.git ?? gitState(opts.projectDir);
  const built: BuiltAction[] = [];
  // One at a time: esbuild is already parallel inside, and errors then name one action.
  for (const a of actions) {
    try {
      built.push(await bundleAction(a, outDir, { ...opts, git }));
    } catch (err) {
      throw new Error(`bundling action ${a.name} (${a.entry}) failed: ${(err as Error).message}`);
    }
  }
  return built;
}
