import { expect } from "chai";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { projectEntries } from "../../scripts/build/entries.ts";
import { bundleAction } from "../../scripts/build/bundle.ts";
import { typecheck } from "../../scripts/build/typecheck.ts";
import { projectRoot } from "../support/service.ts";
import { runActionZip, unzipAction } from "../../scripts/runtime/run-action.ts";

const run = promisify(execFile);
// Node's WebAssembly global (the project's TypeScript lib has no DOM types for it)
const Wasm = (
  globalThis as unknown as {
    WebAssembly: { validate(b: Uint8Array): boolean; Module: { new (b: Uint8Array): object; exports(m: object): Array<{ name: string }> } };
  }
).WebAssembly;

describe("npm run build", function () {
  this.timeout(180000);
  const out = mkdtempSync(join(tmpdir(), "build-"));
  let table = "";

  before(async () => {
    // --skip-typecheck: other suites check types; here the bundles are under test.
    const r = await run(process.execPath, ["--import", "tsx", "scripts/build/cli.ts", "--out", out, "--skip-typecheck"], {
      cwd: projectRoot,
    });
    table = r.stdout;
  });

  it("prints a table of every action with its bundle and zip size", () => {
    const names = projectEntries(projectRoot).map((e) => e.name);
    expect(names).to.include("hello");
    expect(table).to.match(/^action\s+bundle\s+zip$/m);
    for (const n of names) expect(table).to.match(new RegExp(`^${n}\\s+[\\d.]+ (B|KiB|MiB)\\s+[\\d.]+ (B|KiB|MiB)$`, "m"));
  });

  it("zips each action as its bundle and a package.json whose main points at it, and hdf5.wasm and its initialised memory where h5wasm is bundled; nothing else", () => {
    for (const { name } of projectEntries(projectRoot)) {
      const { dir, files } = unzipAction(join(out, `${name}.zip`));
      const usesH5wasm = "h5wasm" in JSON.parse(readFileSync(join(out, name, "provenance.json"), "utf8")).dependencies;
      expect(files, name).to.deep.equal(
        usesH5wasm ? ["hdf5-memory.bin", "hdf5.wasm", "index.js", "package.json"] : ["index.js", "package.json"],
      );
      expect(JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).main).to.equal("index.js");
      const bundle = readFileSync(join(dir, "index.js"), "utf8");
      expect(bundle, `${name} must be self-contained CommonJS`).not.to.match(/^\s*(import|export)\s/m);
    }
  });

  it("ships h5wasm's WebAssembly as a file beside the bundle, not inlined into it", () => {
    for (const name of ["metadata", "derive"]) {
      const { dir, files } = unzipAction(join(out, `${name}.zip`));
      expect(files, name).to.include("hdf5.wasm");
      const wasm = readFileSync(join(dir, "hdf5.wasm"));
      expect(Wasm.validate(wasm), `${name}: hdf5.wasm is WebAssembly`).to.equal(true);
      expect(
        Wasm.Module.exports(new Wasm.Module(wasm)).map((e) => e.name),
        `${name}: hdf5.wasm is the HDF5 library`,
      ).to.include("H5_libinit_g");
      expect(readFileSync(join(dir, "index.js")).length, `${name}: bundle without the inlined wasm`).to.be.below(1024 * 1024);
    }
  });

  it("bundles precompiled validators, not ajv's schema compiler", () => {
    for (const name of ["checksum", "metadata", "catalogue", "placement", "derive", "accounting"]) {
      const sources: string[] = JSON.parse(readFileSync(join(out, name, "index.js.map"), "utf8")).sources;
      expect(
        sources.some((s) => s.includes("functions/_shared/schema.ts")),
        `${name} validates`,
      ).to.equal(true);
      expect(
        sources.filter((s) => /ajv\/(dist|lib)\/(compile|core|vocabularies)\//.test(s)),
        name,
      ).to.deep.equal([]);
    }
  });

  it("a bundle's precompiled validators judge as ajv does at run time", async () => {
    const params = { webdavUrl: "ftp://nope", path: "relative/path", timeoutMs: 5 };
    const { main } = await import("../../functions/checksum/index.ts");
    const expected = ((await main(params)) as { error: string }).error;
    const r = await runActionZip(join(out, "checksum.zip"), params);
    expect(expected).to.match(/^invalid parameters for checksum: /);
    expect((r.result as { error: string }).error).to.equal(expected);
  });

  it("writes a source map beside each bundle, not into the zip", () => {
    for (const { name } of projectEntries(projectRoot)) {
      const map = JSON.parse(readFileSync(join(out, name, "index.js.map"), "utf8"));
      expect(map.version).to.equal(3);
      expect(map.sources.join(" ")).to.include(".ts");
    }
  });

  it("runs hello from its zip in a fresh Node process as the OpenWhisk runtime does", async () => {
    const r = await runActionZip(join(out, "hello.zip"), { name: "Ada" });
    expect(r.result).to.deep.equal({
      greeting: "Hello, Ada!",
      action: "/guest/test-action",
      activation: "0123456789abcdef0123456789abcdef",
    });
    const bad = await runActionZip(join(out, "hello.zip"), { name: 42 });
    expect(bad.result)
      .to.have.property("error")
      .that.match(/parameter "name" must be a string/);
  });

  it("gives the same zip bytes for the same code", async () => {
    const hello = projectEntries(projectRoot).find((e) => e.name === "hello")!;
    const again = mkdtempSync(join(tmpdir(), "build-again-"));
    const b = await bundleAction(hello, again, { projectDir: projectRoot });
    expect(readFileSync(b.zipPath).equals(readFileSync(join(out, "hello.zip")))).to.equal(true);
  });

  it("records each action's provenance and keeps the version in the content-addressed store", () => {
    const lock = JSON.parse(readFileSync(join(projectRoot, "package-lock.json"), "utf8"));
    for (const { name } of projectEntries(projectRoot)) {
      const p = JSON.parse(readFileSync(join(out, name, "provenance.json"), "utf8"));
      const bundle = readFileSync(join(out, name, "index.js"));
      expect(p.bundleSha256, name).to.equal(createHash("sha256").update(bundle).digest("hex"));
      expect(p.kind).to.equal("nodejs:20");
      expect(p.git.commit).to.match(/^[0-9a-f]{40}$/);
      for (const [dep, version] of Object.entries(p.dependencies)) {
        expect(version, `${name}: ${dep}`).to.equal(lock.packages[`node_modules/${dep}`]?.version);
      }
      const stored = join(out, "..", "store", `${p.bundleSha256}.zip`);
      expect(readFileSync(stored).equals(readFileSync(join(out, `${name}.zip`))), `${name} in the store`).to.equal(true);
    }
    const hello = JSON.parse(readFileSync(join(out, "hello", "provenance.json"), "utf8"));
    expect(hello.dependencies, "hello bundles no package").to.deep.equal({});
  });

  it("gives a different bundle hash after a code change, the same for the same code", async () => {
    const src = mkdtempSync(join(tmpdir(), "src-"));
    const entry = join(src, "index.ts");
    writeFileSync(entry, "export const main = () => ({ v: 1 });\n");
    const a = await bundleAction({ name: "v", entry }, mkdtempSync(join(tmpdir(), "o1-")), { projectDir: projectRoot });
    const b = await bundleAction({ name: "v", entry }, mkdtempSync(join(tmpdir(), "o2-")), { projectDir: projectRoot });
    writeFileSync(entry, "export const main = () => ({ v: 2 });\n");
    const c = await bundleAction({ name: "v", entry }, mkdtempSync(join(tmpdir(), "o3-")), { projectDir: projectRoot });
    expect(a.sha256).to.equal(b.sha256);
    expect(c.sha256).to.not.equal(a.sha256);
  });

  it("fails on a type error, naming the file and the fix", () => {
    const dir = mkdtempSync(join(tmpdir(), "typecheck-"));
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions: { strict: true, noEmit: true }, include: ["*.ts"] }));
    writeFileSync(join(dir, "bad.ts"), "export const n: number = 'not a number';\n");
    expect(() => typecheck(dir)).to.throw(/type check failed[\s\S]*bad\.ts[\s\S]*Fix the type errors/);
  });

  it("says which actions exist when asked for one that does not", async () => {
    const err = await run(process.execPath, ["--import", "tsx", "scripts/build/cli.ts", "--out", out, "--skip-typecheck", "helo"], {
      cwd: projectRoot,
    }).then(
      () => null,
      (e: { stderr: string; code: number }) => e,
    );
    expect(err?.code).to.equal(1);
    expect(err?.stderr).to.match(/no action named helo; actions are: .*hello/);
  });
});
