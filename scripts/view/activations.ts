// Every activation of a namespace since a point in time, followed as they come: pages through the
// OpenWhisk activations API (`since`, `skip`, `limit` 200) on each poll, with an overlap so that
// activations recorded late (a sequence is written when it ends, with its start time) are found,
// deduplicated by id. Then the API's own count (`count=true`) since that point must equal what was
// found; when it is more, an activation was recorded later than the overlap reaches (a long run on a
// loaded machine), and a sweep over the ids (`docs=false`, cheap) fetches exactly the missing ones.
// Each is kept as a compact record (what ran, outcome, files, reasons); parameters never are.
import type { Activation, Client, Dict } from "openwhisk";
import { maskSecrets } from "../build/secrets.ts";
import type { ActivationRecord, FileRef } from "./wire.ts";

export type { ActivationRecord, FileRef };

type Rec = Activation<Dict> & { cause?: string; end?: number };
const PAGE = 200;

const annotation = (a: Rec, key: string) => a.annotations?.find((x) => x.key === key)?.value;

function fileRefs(r: Dict | undefined): FileRef[] {
  if (Array.isArray(r?.files)) {
    return (r!.files as Dict[])
      .filter((f) => typeof f?.path === "string")
      .map((f) => {
        const ref: FileRef = { path: f.path };
        const pid = f.catalogue?.pid ?? f.pid;
        if (typeof pid === "string") ref.pid = pid;
        const pl = f.placement;
        if (pl?.scope && pl?.name) {
          ref.did = { scope: String(pl.scope), name: String(pl.name) };
          if (pl.rules && typeof pl.rules === "object")
            ref.rules = Object.fromEntries(
              Object.entries(pl.rules as Dict).map(([k, v]) => [k, typeof v === "string" ? v : String((v as Dict)?.id ?? "")]),
            );
        }
        if (Array.isArray(f.derived))
          ref.derived = (f.derived as Dict[]).map((d) => ({ path: String(d.path), kind: d.kind, contentType: d.contentType }));
        return ref;
      });
  }
  // a trigger activation's result is the fired batch
  if (Array.isArray(r?.events)) {
    return (r!.events as Dict[])
      .filter((e) => typeof e?.subject === "string")
      .map((e) => {
        const t = Date.parse(String(e.time ?? ""));
        return Number.isNaN(t) ? { path: e.subject } : { path: e.subject, time: t };
      });
  }
  return typeof r?.path === "string" ? [{ path: r.path }] : [];
}

export function compact(a: Rec, seq: number): ActivationRecord {
  const kindAnn = annotation(a, "kind");
  const result = (a.response?.result ?? {}) as Dict;
  const kind =
    kindAnn === undefined ? "trigger" : kindAnn === "sequence" ? "sequence" : annotation(a, "causedBy") === "sequence" ? "step" : "action";
  const path = String(annotation(a, "path") ?? a.name ?? "?");
  const rec: ActivationRecord = {
    seq,
    id: a.activationId,
    name: kind === "trigger" ? (a.name ?? "?") : path,
    kind,
    start: a.start,
    end: a.end || a.start,
    duration: a.duration ?? 0,
    success: !!a.response?.success,
    status: a.response?.status ?? (a.response?.success ? "success" : "unknown"),
    files: fileRefs(result),
    skipped: Array.isArray(result.skipped)
      ? (result.skipped as Dict[]).map((s) => ({ path: String(s.path ?? ""), reason: String(s.reason ?? "") }))
      : [],
    failed: Array.isArray(result.failed)
      ? (result.failed as Dict[]).map((f) => ({
          path: String(f.path),
          step: String(f.step),
          reason: String(f.reason),
          permanent: f.permanent,
        }))
      : [],
  };
  if (a.cause) rec.cause = a.cause;
  if (result.error !== undefined) {
    rec.error = {
      message: String(result.error),
      step: result.step,
      transient: result.transient,
      paths: Array.isArray(result.paths) ? result.paths.map(String) : [],
    };
  }
  const prov = annotation(a, "provenance") as Dict | undefined;
  if (prov?.bundleSha256) rec.bundleSha256 = prov.bundleSha256;
  // a result is the function's own output: masked anyway, in case a function ever echoes a credential
  return maskSecrets(rec);
}

/** Every activation since `since`, following pages (the API lists newest first; new ones shift pages, never hide them). */
export async function listSince(ow: Client, since: number): Promise<Rec[]> {
  const all: Rec[] = [];
  for (let skip = 0; ; skip += PAGE) {
    const page = (await ow.activations.list({ docs: true, since, limit: PAGE, skip } as never)) as unknown as Rec[];
    all.push(...page);
    if (page.length < PAGE) return all;
  }
}

export class ActivationFeed {
  private readonly byId = new Map<string, ActivationRecord>();
  readonly records: ActivationRecord[] = [];
  private cursor: number;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  lastError?: string;
  polls = 0;
  /** sweeps that found activations recorded later than the overlap reached */
  sweeps = 0;
  private trimmed = false;
  private seq = 0;

  /** `overlapMs`: how far back each poll looks again, past the newest start seen (long activations end late). */
  constructor(
    private readonly ow: Client,
    readonly since: number,
    private readonly overlapMs = 120_000,
    readonly max = 500_000,
  ) {
    this.cursor = since;
  }

  /**
   * Activations that started in [since, before) which the API counts but this feed has not seen
   * (recorded after the overlap had passed them), fetched by id after a sweep over summaries.
   */
  private async missing(before: number): Promise<Rec[]> {
    const span = { since: this.since, upto: before - 1 };
    const counted = ((await this.ow.activations.list({ count: true, ...span } as never)) as unknown as { activations: number }).activations;
    let known = 0;
    for (const r of this.records) if (r.start < before) known++;
    let lacking = counted - known;
    if (lacking <= 0 || this.trimmed) return [];
    this.sweeps++;
    const found: Rec[] = [];
    for (let skip = 0; lacking > 0; skip += PAGE) {
      const page = (await this.ow.activations.list({ ...span, limit: PAGE, skip } as never)) as unknown as Rec[];
      for (const brief of page) {
        if (this.byId.has(brief.activationId) || found.some((f) => f.activationId === brief.activationId)) continue;
        found.push((await this.ow.activations.get({ name: brief.activationId } as never)) as unknown as Rec);
        lacking--;
      }
      if (page.length < PAGE) break;
    }
    return found;
  }

  /** One pass: the new activations, in the order they ended. */
  async poll(): Promise<ActivationRecord[]> {
    const from = this.cursor;
    const page = await listSince(this.ow, from);
    const out = this.take(page);
    // everything that started before this pass's window must be known by now
    if (from > this.since) out.push(...this.take(await this.missing(from)));
    const newest = page.reduce((m, a) => Math.max(m, a.start), 0);
    if (newest) this.cursor = Math.max(this.cursor, newest - this.overlapMs);
    this.polls++;
    return out;
  }

  private take(list: Rec[]): ActivationRecord[] {
    const fresh = list
      .filter((a) => !this.byId.has(a.activationId) && a.start >= this.since)
      .sort((x, y) => (x.end || x.start) - (y.end || y.start));
    const out: ActivationRecord[] = [];
    for (const a of fresh) {
      const r = compact(a, ++this.seq);
      this.byId.set(r.id, r);
      this.records.push(r);
      out.push(r);
    }
    if (this.records.length > this.max) {
      // a view kept open for weeks: forget the oldest (the late-record check stops, as it counts from `since`)
      for (const r of this.records.splice(0, this.records.length - this.max)) this.byId.delete(r.id);
      this.trimmed = true;
    }
    return out;
  }

  start(intervalMs = 1000, onNew?: (r: ActivationRecord[]) => void): void {
    const loop = async () => {
      try {
        const fresh = await this.poll();
        this.lastError = undefined;
        if (fresh.length) onNew?.(fresh);
      } catch (e) {
        this.lastError = `cannot list activations: ${(e as Error).message}`;
      }
      if (!this.stopped) this.timer = setTimeout(loop, intervalMs);
    };
    void loop();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** Records after a cursor (`seq`), at most `limit`. */
  after(seq: number, limit = 5000): ActivationRecord[] {
    const first = this.records.length ? this.records[0]!.seq : 1;
    const i = Math.max(0, seq - first + 1);
    return this.records.slice(i, i + limit);
  }

  get(id: string): ActivationRecord | undefined {
    return this.byId.get(id);
  }

  get total(): number {
    return this.seq;
  }
}
