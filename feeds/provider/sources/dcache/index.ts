// The dCache SSE source: registrations that watch the same frontend with the same credential share
// one channel hub; each registration has its own watcher (tree, seen records, cursor).
import { mkdirSync } from "node:fs";
import type { DcacheSourceParams } from "../../../common/feed-params.ts";
import type { RunningSource, Source, SourceRegistration, SourceSink, StopOptions } from "../types.ts";
import { ChannelHub } from "./channel-hub.ts";
import { channelClientId, channelKey, endpointOf } from "./credentials.ts";
import { SeenStore } from "./seen-store.ts";
import { DcacheWatcher } from "./watcher.ts";

export interface DcacheSourceOptions {
  /** where the seen records live (the provider's data directory); unset: in memory only */
  dataDir?: string;
  /** seconds a channel outlives a disconnected provider (default 3600; dCache allows 1…86400) */
  channelTimeoutS?: number;
  backoff?: { initialMs: number; maxMs: number };
  competingBackoffMs?: { initialMs: number; maxMs: number };
}

export class DcacheSource implements Source {
  readonly kind = "dcache" as const;
  private readonly hubs = new Map<string, ChannelHub>();
  private seenStore: SeenStore | undefined;

  constructor(private readonly opts: DcacheSourceOptions = {}) {}

  private seen(): SeenStore {
    if (!this.seenStore) {
      if (this.opts.dataDir) mkdirSync(this.opts.dataDir, { recursive: true });
      this.seenStore = this.opts.dataDir ? SeenStore.inDataDir(this.opts.dataDir) : new SeenStore(":memory:");
    }
    return this.seenStore;
  }

  async start(reg: SourceRegistration, sink: SourceSink): Promise<RunningSource> {
    const cfg = reg.config as DcacheSourceParams;
    const endpoint = endpointOf(cfg);
    const key = channelKey(cfg);
    const log = reg.log.child({ source: "dcache", frontend: new URL(cfg.url).origin });
    let hub = this.hubs.get(key);
    if (!hub) {
      hub = new ChannelHub({
        endpoint,
        clientId: channelClientId(key, reg.replicaId),
        channelTimeoutS: this.opts.channelTimeoutS ?? 3600,
        // the hub serves every registration on this channel: its lines name none of them
        log: log.child({ trigger: undefined }),
        backoff: this.opts.backoff,
        competingBackoffMs: this.opts.competingBackoffMs,
      });
      this.hubs.set(key, hub);
    }
    const seen = this.seen();
    sink.state("starting");
    // the key changes when the trigger's feed is created again: old seen records must not count
    const regKey = reg.key ?? reg.id;
    const watcher = new DcacheWatcher({
      regId: regKey,
      cfg,
      cursor: reg.cursor,
      hub,
      endpoint,
      seen,
      sink,
      log,
      types: reg.types,
      passes: reg.passes,
    });
    hub.attach(watcher);
    const hubs = this.hubs;
    const theHub = hub;
    return {
      reconcile: () => watcher.reconcile(),
      async stop(opts: StopOptions = {}): Promise<void> {
        watcher.stop();
        await theHub.detach(regKey, !!opts.forget);
        if (theHub.size === 0 && hubs.get(key) === theHub) hubs.delete(key);
        if (opts.forget) seen.forgetRegistration(regKey);
        sink.state("stopped");
      },
    };
  }
}
