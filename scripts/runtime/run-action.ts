// Runs a built action the way the OpenWhisk Node.js runtime does, in a fresh Node process: unzip the
// action, require() its package.json main, call the exported function with the parameters, and
// take the (awaited) result. __OW_* variables are set as the runtime sets them.
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { unzipSync } from "fflate";

export interface ActionRun {
  /** the value main returned or resolved to */
  result?: unknown;
  /** set when main threw or rejected */
  error?: string;
  stdout: string;
  stderr: string;
}

export function unzipAction(zipPath: string): { dir: string; files: string[] } {
  const dir = mkdtempSync(join(tmpdir(), "action-"));
  const entries = unzipSync(readFileSync(zipPath));
  for (const [name, data] of Object.entries(entries)) {
    if (name.endsWith("/")) continue;
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), data);
  }
  return { dir, files: Object.keys(entries).sort() };
}

const RUNNER = `
const path = require("node:path");
const [dir, fn, paramsJson] = process.argv.slice(1);
const pkg = require(path.join(dir, "package.json"));
const mod = require(path.join(dir, pkg.main || "index.js"));
let f = mod;
for (const part of fn.split(".")) f = f && f[part];
if (typeof f !== "function") { process.stderr.write("no function " + fn + " exported\\n"); process.exit(3); }
Promise.resolve().then(() => f(JSON.parse(paramsJson))).then(
  (r) => process.send({ result: r === undefined ? {} : r }),
  (e) => process.send({ error: String(e && e.message || e) }),
);
`;

export function runActionZip(
  zipPath: string,
  params: Record<string, unknown>,
  opts: { main?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<ActionRun> {
  const { dir } = unzipAction(zipPath);
  return new Promise((resolve, reject) => {
    let message: { result?: unknown; error?: string } | undefined;
    let stdout = "";
    let stderr = "";
    const child = spawn(process.execPath, ["-e", RUNNER, dir, opts.main ?? "main", JSON.stringify(params)], {
      cwd: dir,
      env: {
        PATH: process.env.PATH,
        __OW_ACTIVATION_ID: "0123456789abcdef0123456789abcdef",
        __OW_ACTION_NAME: "/guest/test-action",
        __OW_NAMESPACE: "guest",
        __OW_DEADLINE: String(Date.now() + 60000),
        ...opts.env,
      },
      // an IPC channel carries the result, so the action's own stdout stays its log
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 30000);
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    // Like a warm container, the process does not end by itself after a run: stop it once answered.
    child.on("message", (m) => {
      message = m as typeof message;
      setImmediate(() => child.kill());
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      if (message) resolve({ ...message, stdout, stderr });
      else reject(new Error(`action process ended without a result (${code ?? signal}):\n${stderr}`));
    });
  });
}
