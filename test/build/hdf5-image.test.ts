// The HDF5 library's initialised memory shipped beside the bundles that read HDF5
// (scripts/build/hdf5-image.ts): a bundle started from it must read every real facility file exactly
// as the library does when it initialises itself (the function run from source, with h5wasm from
// node_modules), the image must not depend on the machine that built it, and a bundle must refuse
// an image made for another hdf5.wasm.
import { expect } from "chai";
import { zipSync } from "fflate";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundleAction } from "../../scripts/build/bundle.ts";
import { projectEntries } from "../../scripts/build/entries.ts";
import { captureHdf5Image, IMAGE_FILE, IMAGE_MAGIC } from "../../scripts/build/hdf5-image.ts";
import { runActionZip, unzipAction } from "../../scripts/runtime/run-action.ts";
import { startStorage, type Storage } from "../dcache/support.ts";
import { projectRoot } from "../support/service.ts";

const NEXUS = join(projectRoot, "test/data/nexus");
const LOADER = join(projectRoot, "node_modules/h5wasm/dist/esm/hdf5_util.js");

/** Runs metadata's main from source on each of the inputs (argv), printing the results as JSON. */
const FROM_SOURCE = `
const { main } = await import("./functions/metadata/index.ts");
const log = console.log;
console.log = () => {};
const out = [];
for (const input of JSON.parse(process.argv[1])) out.push(await main(input));
log(JSON.stringify(out));
`;

/** What a result says of its files (not where and when it ran). */
function comparable(result: unknown): unknown {
  const { files, skipped, failed } = result as Record<string, unknown>;
  return JSON.parse(JSON.stringify({ files, skipped, failed }));
}

describe("build: the HDF5 library started from its initialised memory", function () {
  this.timeout(180_000);
  const out = mkdtempSync(join(tmpdir(), "hdf5-image-"));
  let zip: string;
  let storage: Storage;
  const files = readdirSync(NEXUS).filter((f) => !f.endsWith(".md"));

  before(async () => {
    const entry = projectEntries(projectRoot).find((e) => e.name === "metadata")!;
    zip = (await bundleAction(entry, out, { projectDir: projectRoot, storeDir: join(out, "store") })).zipPath;
    storage = await startStorage(["--inotify", "off"]);
    mkdirSync(join(storage.root, "raw"));
    for (const f of files) copyFileSync(join(NEXUS, f), join(storage.root, "raw", f));
  });

  after(async () => {
    await storage?.stop();
    rmSync(out, { recursive: true, force: true });
  });

  it("ships the image beside hdf5.wasm, made for it", () => {
    const { dir, files: shipped } = unzipAction(zip);
    expect(shipped).to.include.members(["hdf5.wasm", IMAGE_FILE]);
    const image = readFileSync(join(dir, IMAGE_FILE));
    expect(image.toString("latin1", 0, IMAGE_MAGIC.length)).to.equal(IMAGE_MAGIC);
    expect(image.readUInt32LE(IMAGE_MAGIC.length)).to.equal(readFileSync(join(dir, "hdf5.wasm")).length);
  });

  it("metadata from the bundle describes each real facility file as the function run from source does", async () => {
    const params = { webdavUrl: storage.webdav, frontendUrl: storage.frontend, dcacheUser: "demo", dcachePassword: "demo" };
    const inputs = files.map((f) => ({ ...params, path: `/raw/${f}` }));
    // from source, with h5wasm from node_modules initialising the library itself; in a process of its
    // own, so that this one's HDF5 (and its diagnostics filter) stays as the other suites expect it
    const fromSource = JSON.parse(
      execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", FROM_SOURCE, JSON.stringify(inputs)], {
        cwd: projectRoot,
        encoding: "utf8",
      }),
    ) as unknown[];
    for (const [i, f] of files.entries()) {
      const bundled = await runActionZip(zip, inputs[i]!);
      expect(bundled.error, f).to.equal(undefined);
      const r = bundled.result as { files?: Array<{ metadata?: { format?: string } }> };
      expect(r.files?.[0]?.metadata?.format, `${f}: ${JSON.stringify(r)}`).to.be.oneOf(["nexus", "hdf5"]);
      expect(comparable(r), f).to.deep.equal(comparable(fromSource[i]));
    }
  });

  it("is the same whatever the environment of the machine that builds it", () => {
    const wasmBytes = 1;
    const here = captureHdf5Image(LOADER, wasmBytes);
    const saved = { ...process.env };
    Object.assign(process.env, {
      TZ: "Pacific/Chatham",
      HOME: "/nowhere",
      LANG: "de_DE.UTF-8",
      HDF5_USE_FILE_LOCKING: "FALSE",
      HDF5_DEBUG: "all",
    });
    try {
      const elsewhere = captureHdf5Image(LOADER, wasmBytes);
      expect(Buffer.compare(here, elsewhere)).to.equal(0);
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });

  it("a bundle refuses an image made for another hdf5.wasm, saying what to do", async () => {
    const { dir, files: shipped } = unzipAction(zip);
    const image = readFileSync(join(dir, IMAGE_FILE));
    image.writeUInt32LE(image.readUInt32LE(IMAGE_MAGIC.length) + 1, IMAGE_MAGIC.length);
    writeFileSync(join(dir, IMAGE_FILE), image);
    const other = join(out, "other.zip");
    writeFileSync(other, zipSync(Object.fromEntries(shipped.map((f) => [f, readFileSync(join(dir, f))]))));
    const r = await runActionZip(other, {
      webdavUrl: storage.webdav,
      dcacheUser: "demo",
      dcachePassword: "demo",
      path: `/raw/${files[0]}`,
    });
    expect(JSON.stringify(r)).to.include(
      `${IMAGE_FILE} beside this action was not made for its hdf5.wasm: build and deploy the action again`,
    );
  });
});
