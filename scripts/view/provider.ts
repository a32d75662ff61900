// The feed provider's HTTP API as the view reads it: registrations, the file ledger (paged with
// `after`), retries, /health and /metrics (Prometheus text, parsed into samples).
import type { LedgerFile } from "./wire.ts";

export type { LedgerFile };

export interface ProviderConn {
  url: string;
  /** "user:password": the provider's credentials */
  auth: string;
  /** the triggers' owner key, for reading one registration (its delivery counters) */
  ownerKey?: string;
}

export class ProviderApi {
  private readonly base: string;
  constructor(private readonly c: ProviderConn) {
    this.base = c.url.replace(/\/+$/, "");
  }

  async call<T>(method: string, path: string, body?: unknown, authorised = true): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers: {
          ...(authorised ? { authorization: `Basic ${Buffer.from(this.c.auth).toString("base64")}` } : {}),
          ...(authorised && this.c.ownerKey ? { "x-owner-key": this.c.ownerKey } : {}),
          ...(body ? { "content-type": "application/json" } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(30_000),
      });
    } catch (e) {
      const cause = (e as Error & { cause?: { code?: string } }).cause;
      throw new Error(
        `cannot reach the feed provider at ${this.base} (${cause?.code ?? (e as Error).message}); is it running? (--provider)`,
      );
    }
    const text = await res.text();
    if (!res.ok) {
      let msg = text.slice(0, 300);
      try {
        msg = (JSON.parse(text) as { error?: string }).error ?? msg;
      } catch {
        /* not JSON */
      }
      throw new Error(`the feed provider answered ${method} ${path.split("?")[0]} with ${res.status}: ${msg}`);
    }
    return (path === "/metrics" ? text : JSON.parse(text)) as T;
  }

  async triggers(): Promise<string[]> {
    const r = await this.call<{ registrations: Array<{ trigger: string }> }>("GET", "/api/v1/registrations");
    return r.registrations.map((x) => x.trigger);
  }

  static seg(trigger: string): string {
    const [, ns, name] = trigger.split("/");
    return `${encodeURIComponent(ns!)}/${encodeURIComponent(name!)}`;
  }

  /** Every ledger entry of every registration matching the filter, following pages. */
  async files(q: { prefix?: string; state?: string }, max = 200_000): Promise<LedgerFile[]> {
    const out: LedgerFile[] = [];
    for (const t of await this.triggers()) {
      let after: string | null = null;
      do {
        const p = new URLSearchParams({ limit: "1000" });
        if (q.prefix) p.set("prefix", q.prefix);
        if (q.state) p.set("state", q.state);
        if (after) p.set("after", after);
        const page: { files: LedgerFile[]; next: string | null } = await this.call(
          "GET",
          `/api/v1/registrations/${ProviderApi.seg(t)}/files?${p}`,
        );
        for (const f of page.files) out.push({ ...f, trigger: t });
        after = page.next;
      } while (after && out.length < max);
    }
    return out;
  }

  async retry(paths: string[]): Promise<number> {
    let n = 0;
    for (const t of await this.triggers()) {
      const r = await this.call<{ retried: number }>("POST", `/api/v1/registrations/${ProviderApi.seg(t)}/files/retry`, { paths });
      n += r.retried;
    }
    return n;
  }

  async health(): Promise<unknown> {
    const res = await fetch(`${this.base}/health`, { signal: AbortSignal.timeout(10_000) }).catch((e: Error) => {
      throw new Error(`cannot reach the feed provider at ${this.base} (${e.message})`);
    });
    return res.json();
  }

  async metrics(): Promise<Sample[]> {
    return parsePrometheus(await this.call<string>("GET", "/metrics", undefined, false));
  }
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text format 0.0.4: one sample a line, comments skipped. */
export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]!] = l[2]!.replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}
