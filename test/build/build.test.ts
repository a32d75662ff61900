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

describe("npm run build", function () {
  this.timeout(180000);
  const out = mkdtempSync(join(tmpdir(), "build-"));
  let table = "";

  before(async () => {
    // --skip-typecheck: other suites check types; here the bundles are under test.
    const r = await run(process.execPath, ["--import", "tsx", "scripts/build/cli.ts", "--out", out, "--skip-typecheck"], { cwd: projectRoot });
    table = r.stdout;
  });

  it("prints a table of every action with its bundle and zip size", () => {
    const names = projectEntries(projectRoot).map((e) => e.name);
    expect(names).to.include("hello");
    expect(table).to.match(/^action\s+bundle\s+zip$/m);
    for (const n of names) expect(table).to.match(new RegExp(`^${n}\\s+[\\d.]+ (B|KiB|MiB)\\s+[\\d.]+ (B|KiB|MiB)$`, "m"));
  });

  it("zips each action as its bundle and a package.json whose main points at it, nothing else", () => {
    for (const { name } of projectEntries(projectRoot)) {
      const { dir, files } = unzipAction(join(out, `${name}.zip`));
      expect(files, name).to.deep.equal(["index.js", "package.json"]);
      expect(JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).main).to.equal("index.js");
      const bundle = readFileSync(join(dir, "index.js"), "utf8");
      expect(bundle, `${name} must be self-contained CommonJS`).not.to.match(/^\s*(import|export)\s/m);
    }
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
    expect(bad.result).to.have.property("error").that.match(/parameter "name" must be a string/);
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
    const err = await run(process.execPath, ["--import", "tsx", "scripts/build/cli.ts", "--out", out, "--skip-typecheck", "helo"], { cwd: projectRoot }).then(
      () => null,
      (e: { stderr: string; code: number }) => e,
    );
    expect(err?.code).to.equal(1);
    expect(err?.stderr).to.match(/no action named helo; actions are: .*hello/);
  });
});
