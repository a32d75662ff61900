// Starts one of the project's services as a real child process (through tsx), waits until it says
// on stdout that it listens, and stops it again. Every service's main prints, once per listener,
// a line `listening <name> http://127.0.0.1:<port>` when it is ready (port 0 = an ephemeral port).
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { dirname, resolve } from "node:path";

export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export interface RunningService {
  proc: ChildProcess;
  /** listener name → base URL, e.g. { openwhisk: "http://127.0.0.1:41234" } */
  urls: Record<string, string>;
  /** everything the process printed so far (stdout and stderr) */
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export async function startService(
  script: string,
  args: string[],
  opts: {
    listeners: string[];
    env?: NodeJS.ProcessEnv;
    timeoutMs?: number;
    /** every chunk the process prints, for a log file or a live view */
    onOutput?: (chunk: string, stream: "stdout" | "stderr") => void;
  } = { listeners: [] },
): Promise<RunningService> {
  const proc = spawn(process.execPath, ["--import", "tsx", resolve(projectRoot, script), ...args], {
    cwd: projectRoot,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  // A long-running service prints for hours: keep the last 4 MiB for output().
  const keep = (chunk: string) => {
    out += chunk;
    if (out.length > 4 * 1024 * 1024) out = out.slice(-2 * 1024 * 1024);
  };
  const urls: Record<string, string> = {};
  let listening = false;
  const exited = new Promise<void>((res) => proc.once("exit", () => res()));
  const ready = new Promise<void>((res, rej) => {
    const timer = setTimeout(
      () =>
        rej(
          new Error(
            `${script} did not report listening on ${opts.listeners.join(", ")} within ${opts.timeoutMs ?? 20000} ms; output:\n${out}`,
          ),
        ),
      opts.timeoutMs ?? 20000,
    );
    // once listening, the output is not searched again: a busy service prints for hours
    const check = () => {
      if (listening) return;
      for (const m of out.matchAll(/^listening (\S+) (http\S+)$/gm)) urls[m[1]!] = m[2]!;
      if (opts.listeners.every((l) => urls[l])) {
        listening = true;
        clearTimeout(timer);
        res();
      }
    };
    proc.stdout!.on("data", (d) => {
      keep(String(d));
      opts.onOutput?.(String(d), "stdout");
      check();
    });
    proc.stderr!.on("data", (d) => {
      keep(String(d));
      opts.onOutput?.(String(d), "stderr");
    });
    proc.once("exit", (code, sig) => {
      clearTimeout(timer);
      rej(new Error(`${script} exited (${code ?? sig}) before it was ready; output:\n${out}`));
    });
    check();
  });
  await ready;
  return {
    proc,
    urls,
    output: () => out,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(signal);
      const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}
