// The live view of the local stack in the terminal: every trigger fire (a batch of storage events)
// and every action and sequence activation it led to, one line each — time, what ran, outcome,
// duration, file(s) — and below it each file that failed (step and reason) or was skipped (reason),
// and the files of a step that failed as a whole. Activations are followed from a point in time
// (the start of `npm start`, so processing during start-up and deploy shows) through every page of
// the activations API (scripts/view/activations.ts): none is dropped under load.
import type { Activation, Client, Dict } from "openwhisk";
import { ActivationFeed, compact, type ActivationRecord } from "../view/activations.ts";

const color = process.stdout.isTTY ? (code: number, s: string) => `\x1b[${code}m${s}\x1b[0m` : (_: number, s: string) => s;
const ok = (s: string) => color(32, s);
const bad = (s: string) => color(31, s);
const warn = (s: string) => color(33, s);
const dim = (s: string) => color(2, s);

type Raw = Activation<Dict> & { cause?: string };

function list(paths: string[], max = 3): string {
  if (paths.length === 0) return "";
  const shown = paths.slice(0, max).join(", ");
  return paths.length > max ? `${shown} … (+${paths.length - max})` : shown;
}

const indent = " ".repeat(10);

/** The line(s) for an activation (a raw OpenWhisk record or the compact one). */
export function describeActivation(input: Raw | ActivationRecord): string | null {
  const a = "seq" in input ? input : compact(input, 0);
  const time = new Date(a.end || a.start).toTimeString().slice(0, 8);
  const paths = a.files.map((f) => f.path);
  if (a.kind === "trigger")
    return `${dim(time)}  ${"fire".padEnd(8)} ${a.name.padEnd(24)} ${String(paths.length).padStart(4)} event(s)  ${list(paths)}`;
  const name = a.name.split("/").slice(1).join("/") || a.name;
  const status =
    a.error || !a.success
      ? bad((a.error ? "error" : a.status.split(" ")[0]!).padEnd(6))
      : a.failed.length
        ? warn("ok*".padEnd(6))
        : ok("ok".padEnd(6));
  const what = a.kind === "step" ? "  step" : a.kind;
  const lines = [`${dim(time)}  ${what.padEnd(8)} ${name.padEnd(24)} ${status} ${String(a.duration).padStart(6)} ms  ${list(paths)}`];
  if (a.error) {
    lines.push(
      `${indent}${bad("error")} ${a.error.step ?? ""}${a.error.transient ? " (transient)" : ""}: ${a.error.message.slice(0, 300)}`,
    );
    if (a.error.paths.length) lines.push(`${indent}${bad("files")} ${list(a.error.paths, 10)}`);
  }
  // files that left the batch: a sequence (or a lone action) lists them all, a step those it failed itself
  const own = a.kind === "step" ? a.failed.filter((f) => name.endsWith(`/${f.step}`) || name === f.step) : a.failed;
  for (const f of own)
    lines.push(`${indent}${bad("failed")} ${f.step}: ${f.reason.includes(f.path) ? "" : `${f.path}: `}${f.reason.slice(0, 300)}`);
  if (a.kind !== "step") for (const s of a.skipped) lines.push(`${indent}${warn("skipped")} ${s.path}: ${s.reason.slice(0, 200)}`);
  return lines.join("\n");
}

/** Follows every activation from `since` on and prints each once, in the order they ended (a sequence after its steps). */
export function followActivations(
  ow: Client,
  print: (line: string) => void,
  since = Date.now() - 1000,
  intervalMs = 500,
): { stop(): void } {
  const feed = new ActivationFeed(ow, since, 120_000, 200_000);
  let lastError: string | undefined;
  feed.start(intervalMs, (fresh: ActivationRecord[]) => {
    for (const a of fresh) {
      const line = describeActivation(a);
      if (line) print(line);
    }
  });
  const watch = setInterval(() => {
    if (feed.lastError && feed.lastError !== lastError) print(bad(`(${feed.lastError}; retrying)`));
    lastError = feed.lastError;
  }, intervalMs);
  return {
    stop() {
      feed.stop();
      clearInterval(watch);
    },
  };
}
