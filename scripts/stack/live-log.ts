// The live view of the local stack: every trigger fire (a batch of storage events) and every action
// and sequence activation it led to, one line each — time, what ran, outcome, duration, file(s).
import type { Activation, Client, Dict } from "openwhisk";

const color = process.stdout.isTTY ? (code: number, s: string) => `\x1b[${code}m${s}\x1b[0m` : (_: number, s: string) => s;
const ok = (s: string) => color(32, s);
const bad = (s: string) => color(31, s);
const dim = (s: string) => color(2, s);

type Record_ = Activation<Dict> & { cause?: string };

const annotation = (a: Record_, key: string) => a.annotations?.find((x) => x.key === key)?.value;

function files(result: unknown): string[] {
  const r = result as { files?: Array<{ path?: string }>; events?: Array<{ subject?: string }>; path?: string } | undefined;
  if (Array.isArray(r?.files)) return r!.files.map((f) => f.path ?? "?");
  if (Array.isArray(r?.events)) return r!.events.map((e) => e.subject ?? "?");
  return r?.path ? [r.path] : [];
}

function list(paths: string[], max = 3): string {
  if (paths.length === 0) return "";
  const shown = paths.slice(0, max).join(", ");
  return paths.length > max ? `${shown} … (+${paths.length - max})` : shown;
}

/** One line for an activation, or null for records not worth showing. */
export function describeActivation(a: Record_): string | null {
  const time = new Date(a.end || a.start).toTimeString().slice(0, 8);
  const path = String(annotation(a, "path") ?? a.name);
  const name = path.split("/").slice(1).join("/") || a.name || "?";
  const kind = annotation(a, "kind");
  const result = a.response?.result as Record<string, unknown> | undefined;
  if (kind === undefined) {
    // a trigger activation: its result is the fired payload
    const events = files(result);
    return `${dim(time)}  ${"fire".padEnd(8)} ${(a.name ?? "?").padEnd(24)} ${String(events.length).padStart(4)} event(s)  ${list(events)}`;
  }
  const status = a.response?.success ? ok("ok".padEnd(6)) : bad((a.response?.status ?? "failed").split(" ")[0]!.padEnd(6));
  const what = kind === "sequence" ? "sequence" : annotation(a, "causedBy") === "sequence" ? "  step" : "action";
  const error = !a.response?.success && result?.error ? `  ${bad(String(result.error).slice(0, 200))}` : "";
  // files that left the batch: a sequence lists them all, a step those it failed itself
  const failed = (Array.isArray(result?.failed) ? (result!.failed as Array<{ path: string; step: string; reason: string }>) : []).filter((f) => kind === "sequence" || name.endsWith(`/${f.step}`));
  const failures = failed.map((f) => `\n${" ".repeat(10)}${bad("failed")} ${f.step}: ${f.reason.slice(0, 240)}`).join("");
  return `${dim(time)}  ${what.padEnd(8)} ${name.padEnd(24)} ${status} ${String(a.duration ?? 0).padStart(6)} ms  ${list(files(result))}${error}${failures}`;
}

/** Polls OpenWhisk for new activations and prints them in the order they ended (a sequence after its steps). */
export function followActivations(ow: Client, print: (line: string) => void, intervalMs = 500): { stop(): void } {
  const seen = new Set<string>();
  let since = Date.now() - 1000;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const poll = async () => {
    try {
      const page = (await ow.activations.list({ docs: true, since, limit: 200 } as never)) as unknown as Record_[];
      const fresh = page.filter((a) => !seen.has(a.activationId)).sort((x, y) => (x.end || x.start) - (y.end || y.start));
      for (const a of fresh) {
        seen.add(a.activationId);
        const line = describeActivation(a);
        if (line) print(line);
      }
      // keep a wide overlap: a long activation is recorded long after it started
      if (fresh.length) since = Math.max(since, fresh[fresh.length - 1]!.start - 60_000);
      if (seen.size > 50_000) seen.clear();
    } catch (e) {
      print(bad(`(cannot list activations: ${(e as Error).message})`));
    }
    if (!stopped) timer = setTimeout(poll, intervalMs);
  };
  void poll();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
