// The view server's JSON API, as the page calls it (same origin; the server holds every credential).
import type { ActivationRecord } from "../scripts/view/wire.ts";
export async function getJson<T>(path: string): Promise<T> {
  const r = await fetch(path, { headers: { accept: "application/json" } });
  const j = (await r.json().catch(() => ({ error: `HTTP ${r.status}` }))) as T & { error?: string };
  if (!r.ok) throw new Error(j.error ?? `HTTP ${r.status}`);
  return j;
}

export async function postJson<T>(path: string, body: unknown): Promise<T> {
  const r = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json", "x-view-request": "1" },
    body: JSON.stringify(body),
  });
  const j = (await r.json().catch(() => ({ error: `HTTP ${r.status}` }))) as T & { error?: string };
  if (!r.ok) throw new Error(j.error ?? `HTTP ${r.status}`);
  return j;
}

export type { FileRef, LedgerFile } from "../scripts/view/wire.ts";
/** An activation as the view server records it. */
export type Act = ActivationRecord;

/** All activations the server has seen, kept in order; polled by cursor so none is ever missed. */
export class ActivationStore {
  readonly records: Act[] = [];
  since = 0;
  total = 0;
  error: string | null = null;
  private cursor = 0;
  private readonly ids = new Set<string>();
  /** the poll in progress: two at once would both read from the same cursor and list records twice */
  private polling: Promise<void> | undefined;
  constructor(private readonly onChange: () => void) {}

  pollOnce(): Promise<void> {
    this.polling ??= this.poll().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  private async poll(): Promise<void> {
    for (;;) {
      const r = await getJson<{ since: number; total: number; records: Act[]; error: string | null }>(
        `/api/activations?after=${this.cursor}&limit=5000`,
      );
      this.since = r.since;
      this.total = r.total;
      this.error = r.error;
      for (const a of r.records) {
        if (this.ids.has(a.id)) continue;
        this.ids.add(a.id);
        this.records.push(a);
      }
      if (r.records.length) this.cursor = r.records[r.records.length - 1]!.seq;
      if (r.records.length < 5000) break;
    }
    this.onChange();
  }

  start(ms = 1000): void {
    const loop = () =>
      this.pollOnce()
        .catch((e: Error) => {
          this.error = e.message;
          this.onChange();
        })
        .finally(() => setTimeout(loop, ms));
    loop();
  }
}
