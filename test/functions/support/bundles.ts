// Runs a function the way OpenWhisk's Node.js runtime does: its built bundle required in a fresh
// Node process, main(params) called, the result (or rejection) reported. The bundles are built
// once per test run into a temporary directory with the project's own build (scripts/build).
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { projectRoot } from "../../support/service.ts";

/** Directories built in this run, with the actions each holds. */
const built: { dir: string; names: Set<string> }[] = [];

/** Builds the named actions (once per run) and returns a directory holding their dist-style bundles. */
export function buildBundles(names: string[]): string {
  const have = built.find((b) => names.every((n) => b.names.has(n)));
  if (have) return have.dir;
  const dir = mkdtempSync(join(tmpdir(), "fn-bundles-"));
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", join(projectRoot, "scripts/build/cli.ts"), "--out", dir, "--skip-typecheck", ...names],
    { cwd: projectRoot, encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`build of ${names.join(", ")} failed:\n${r.stdout}\n${r.stderr}`);
  built.push({ dir, names: new Set(names) });
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface BundleRun {
  result: Record<string, unknown>;
  /** What the action printed (stdout + stderr), as OpenWhisk would collect it into its logs. */
  logs: string;
  ms: number;
}

// The runtime's part: require the bundle, call main with the parameters from stdin.
const runner = `
const chunks = [];
process.stdin.on("data", (c) => chunks.push(c));
process.stdin.on("end", async () => {
  const params = JSON.parse(Buffer.concat(chunks).toString());
  const mod = require(process.argv[1]);
  let out;
  try { out = { result: await mod.main(params) }; } catch (e) { out = { rejected: String(e && e.message || e) }; }
  process.stdout.write("\\n@@RESULT@@" + JSON.stringify(out) + "\\n");
});`;

export function runBundle(dir: string, name: string, params: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): Promise<BundleRun> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ["-e", runner, join(dir, name, "index.js")], {
      cwd: tmpdir(),
      env: { PATH: process.env.PATH, ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (err += d));
    p.on("error", reject);
    p.on("exit", (code) => {
      const i = out.lastIndexOf("@@RESULT@@");
      if (i < 0) return reject(new Error(`${name} bundle exited (${code}) without a result:\n${out}\n${err}`));
      const parsed = JSON.parse(out.slice(i + 10)) as { result?: Record<string, unknown>; rejected?: string };
      if (parsed.rejected !== undefined) return reject(new Error(`${name} main() rejected: ${parsed.rejected}`));
      resolve({ result: parsed.result!, logs: out.slice(0, i) + err, ms: Date.now() - started });
    });
    p.stdin.end(JSON.stringify(params));
  });
}
