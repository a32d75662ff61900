// One "container": a forked Node.js process running runtime/action-runner.cjs. It speaks the
// runtime's /init and /run semantics over IPC, and this side owns its limits: the run timeout kills
// the process, the memory limit is V8's heap cap plus a resident-size watchdog, and logs are cut per
// activation at the runtime's end-of-activation markers, exactly as the OpenWhisk invoker does. An
// action whose `limits.concurrency` is above 1 runs several activations in one container at once
// (each message carries its id); its logs are then not cut per activation, as OpenWhisk with
// intra-container concurrency does not collect them either.
import { fork, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { setPriority, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const RUNNER = fileURLToPath(new URL("../runtime/action-runner.cjs", import.meta.url));
const END_MARKER = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX";
// How long to wait for the end markers after a result before giving up on the remaining logs.
const LOG_SENTINEL_WAIT_MS = 2000;
const PAGE_SIZE = 4096;
const CONTAINER_NICENESS = 10;

export interface RuntimeAnswer {
  status: number;
  body: Record<string, unknown>;
}

export type Failure = "timeout" | "memory" | "exit";

export interface StepOutcome {
  answer?: RuntimeAnswer;
  /** set when the process did not answer: killed for a limit or exited by itself */
  failure?: Failure;
  durationMs: number;
}

export interface ContainerOptions {
  memoryMb: number;
  apiHost: string;
  /** where packages the runtime image preinstalls (the `openwhisk` client) resolve from */
  nodePath?: string;
}

type Reply = { type: string; id?: number; status: number; body: Record<string, unknown> } | null;

interface Stream {
  lines: string[];
  partial: string;
  markers: number;
}

let nextId = 1;

export class Container {
  readonly id = nextId++;
  readonly memoryMb: number;
  readonly proc: ChildProcess;
  readonly ready: Promise<void>;
  /** the action version this container was initialised with (undefined: a pre-warmed stem cell) */
  actionKey: string | undefined;
  lastUsed = Date.now();
  /** activations this container may run at once (the action's limits.concurrency) */
  maxConcurrent = 1;
  /** activations leased to it now */
  active = 0;
  /** the initialisation of a container that runs several activations: the others wait for it */
  initialising: Promise<StepOutcome> | undefined;
  /** where the output of a container with maxConcurrent > 1 goes (it is not cut per activation) */
  logSink: ((line: string) => void) | undefined;
  private dead = false;
  private nextCall = 1;
  private readonly pending = new Map<number, (msg: Reply) => void>();
  private streams: Record<"stdout" | "stderr", Stream> = {
    stdout: { lines: [], partial: "", markers: 0 },
    stderr: { lines: [], partial: "", markers: 0 },
  };
  private markerWaiter: (() => void) | undefined;
  private heapExhausted = false;
  private readonly exited: Promise<void>;
  /** the container's file system (the action's files): removed once its process is gone */
  private readonly dir = mkdtempSync(join(tmpdir(), "owaction-"));

  constructor(opts: ContainerOptions) {
    this.memoryMb = opts.memoryMb;
    this.proc = fork(RUNNER, [this.dir], {
      // The heap cap makes V8 abort cleanly past the limit; the watchdog below catches the rest.
      execArgv: [`--max-old-space-size=${opts.memoryMb}`],
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: process.env.HOME ?? "/tmp",
        __OW_API_HOST: opts.apiHost,
        ...(opts.nodePath ? { NODE_PATH: opts.nodePath } : {}),
      },
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      serialization: "json",
    });
    // In a real deployment actions run on invoker machines, apart from the storage, the feed provider
    // and the controller; on one machine they share the cores. A lower CPU priority for containers
    // keeps those services as responsive as they would be apart: a burst of CPU-bound actions then
    // cannot delay the storage events, the fires and the dispatch that bring the next work.
    try {
      if (this.proc.pid) setPriority(this.proc.pid, CONTAINER_NICENESS);
    } catch {
      /* not permitted here: containers run at the platform's own priority */
    }
    // "close" comes after the output pipes are drained, so the last log lines are in by then.
    this.exited = new Promise((res) => this.proc.once("close", () => res()));
    // at exit, not close: a process the action started may hold the pipes open; a directory that
    // cannot be removed stays behind rather than take the platform down
    this.proc.once("exit", () => {
      try {
        rmSync(this.dir, { recursive: true, force: true });
      } catch {
        /* left in the temp folder */
      }
    });
    for (const name of ["stdout", "stderr"] as const) {
      this.proc[name]!.setEncoding("utf8");
      this.proc[name]!.on("data", (chunk: string) => this.onOutput(name, chunk));
    }
    this.ready = new Promise((res, rej) => {
      const onMsg = (m: { type?: string }) => {
        if (m?.type === "ready") {
          this.proc.off("message", onMsg);
          res();
        }
      };
      this.proc.on("message", onMsg);
      this.proc.once("exit", () => rej(new Error("the action container exited while starting")));
    });
    this.ready.catch(() => undefined);
    this.proc.on("message", (m: Reply) => {
      if ((m?.type === "init" || m?.type === "run") && typeof m.id === "number") {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        p?.(m);
      }
    });
    this.proc.once("exit", () => {
      this.dead = true;
      const waiting = [...this.pending.values()];
      this.pending.clear();
      for (const p of waiting) p(null);
      this.markerWaiter?.();
    });
    // A child that closes its IPC channel or fails to send must not crash the platform.
    this.proc.on("error", () => undefined);
  }

  get alive(): boolean {
    return !this.dead;
  }

  private onOutput(name: "stdout" | "stderr", chunk: string): void {
    const s = this.streams[name];
    const text = s.partial + chunk;
    const parts = text.split("\n");
    s.partial = parts.pop()!;
    for (let line of parts) {
      if (line.endsWith(END_MARKER)) {
        // An action that wrote without a final newline leaves its text in front of the marker.
        line = line.slice(0, -END_MARKER.length);
        if (line && this.logSink) this.logSink(`container ${this.id} ${name}: ${line}`);
        else if (line) s.lines.push(`${timestamp()} ${name}: ${line}`);
        s.markers++;
        this.markerWaiter?.();
        continue;
      }
      if (name === "stderr" && line.includes("JavaScript heap out of memory")) this.heapExhausted = true;
      if (this.logSink) this.logSink(`container ${this.id} ${name}: ${line}`);
      else s.lines.push(`${timestamp()} ${name}: ${line}`);
    }
  }

  private call(msg: object, timeoutMs: number): Promise<StepOutcome> {
    const started = performance.now();
    const id = this.nextCall++;
    return new Promise((resolve) => {
      let watchdog: NodeJS.Timeout | undefined;
      const finish = (o: Omit<StepOutcome, "durationMs">) => {
        clearTimeout(timer);
        clearInterval(watchdog);
        resolve({ ...o, durationMs: performance.now() - started });
      };
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.kill();
        finish({ failure: "timeout" });
      }, timeoutMs);
      // Off-heap allocations (Buffers, typed arrays) escape V8's heap cap: watch resident size too.
      watchdog = setInterval(() => {
        if (this.residentMb() > this.memoryMb) {
          this.heapExhausted = true;
          this.kill();
        }
      }, 50);
      const settle = (m: Reply) => {
        if (m) finish({ answer: { status: m.status, body: m.body } });
        else finish({ failure: this.heapExhausted || this.diedOfMemory() ? "memory" : "exit" });
      };
      if (this.dead) return settle(null);
      this.pending.set(id, settle);
      try {
        this.proc.send({ ...msg, id });
      } catch {
        this.kill();
      }
    });
  }

  private diedOfMemory(): boolean {
    // V8 aborts (SIGABRT, or exit code 134 through a shell) when the heap cap is reached.
    return this.proc.signalCode === "SIGABRT" || this.proc.exitCode === 134;
  }

  private residentMb(): number {
    try {
      const pages = Number(readFileSync(`/proc/${this.proc.pid}/statm`, "utf8").split(" ")[1]);
      return (pages * PAGE_SIZE) / (1024 * 1024);
    } catch {
      return 0;
    }
  }

  init(value: Record<string, unknown>, timeoutMs: number): Promise<StepOutcome> {
    return this.call({ type: "init", value }, timeoutMs);
  }

  run(message: Record<string, unknown>, timeoutMs: number): Promise<StepOutcome> {
    return this.call({ type: "run", message }, timeoutMs);
  }

  /**
   * Logs of the activation that just ended: everything up to the end markers on both streams (waits
   * briefly for them, since the pipes and the IPC channel are not ordered with each other). After a
   * failure no marker will come: then whatever was written before the process ended.
   */
  async takeLogs(expectMarkers: boolean): Promise<string[]> {
    if (expectMarkers && this.alive) {
      const done = () => this.streams.stdout.markers > 0 && this.streams.stderr.markers > 0;
      if (!done()) {
        await new Promise<void>((res) => {
          const t = setTimeout(res, LOG_SENTINEL_WAIT_MS);
          this.markerWaiter = () => {
            if (done() || !this.alive) {
              clearTimeout(t);
              res();
            }
          };
        });
        this.markerWaiter = undefined;
      }
    } else if (!this.alive || !expectMarkers) {
      await Promise.race([this.exited, new Promise((r) => setTimeout(r, 200))]);
      await new Promise((r) => setImmediate(r));
    }
    const out = this.streams.stdout;
    const err = this.streams.stderr;
    const lines = [...out.lines, ...err.lines].sort(byTimestamp);
    out.lines = [];
    err.lines = [];
    out.markers = Math.max(0, out.markers - 1);
    err.markers = Math.max(0, err.markers - 1);
    return lines;
  }

  kill(): void {
    if (!this.dead) this.proc.kill("SIGKILL");
  }

  async destroy(): Promise<void> {
    this.kill();
    // A process the action started may hold the pipes open: do not wait for it forever.
    const t = new Promise<void>((r) => setTimeout(r, 1000).unref());
    await Promise.race([this.exited, t]);
  }
}

function byTimestamp(a: string, b: string): number {
  // Stable merge of the two streams by their timestamp prefix (fixed width, so string order works).
  return a.slice(0, 30) < b.slice(0, 30) ? -1 : a.slice(0, 30) > b.slice(0, 30) ? 1 : 0;
}

// Docker-style timestamps with nanosecond digits: wall-clock milliseconds plus a monotonic
// sub-millisecond part, so lines written in the same millisecond keep their order.
const wallAtStart = Date.now();
const monoAtStart = process.hrtime.bigint();
function timestamp(): string {
  const ns = BigInt(wallAtStart) * 1_000_000n + (process.hrtime.bigint() - monoAtStart);
  const ms = Number(ns / 1_000_000n);
  const iso = new Date(ms).toISOString(); // 2024-01-01T00:00:00.123Z
  const sub = (ns % 1_000_000n).toString().padStart(6, "0");
  return `${iso.slice(0, -1)}${sub}Z`;
}
