// The contract between event sources (MQTT here; dCache SSE in its own module) and the provider core.
//
// A source receives messages and hands them to the sink. `deliver` resolves only once the messages are
// durable — normalised and filtered, and every surviving event written to the outbox (or
// dead-lettered, or counted as malformed) in one transaction together with the cursor passed along.
// Only then may the source acknowledge upstream (MQTT PUBACK) or consider its position committed.
// If `deliver` rejects, nothing was stored: the source must not acknowledge and must offer the same
// messages again (retry, or reconnect so the upstream redelivers). `deliver` also applies
// backpressure: while the registration's outbox is full (paused, throttled, OpenWhisk down) it
// resolves only once there is room, so the source stops pulling and upstream keeps the rest.
import type { SourceParams } from "../../common/feed-params.ts";
import type { StorageCloudEvent } from "../../../lib/events/cloudevent.ts";
import type { EventType } from "../../../lib/events/inotify.ts";
import type { Logger } from "../log.ts";

/**
 * What a source delivers: a message as a broker carries it, which the intake parses and normalises
 * (lib/events/normalise.ts), or a CloudEvent the source built itself (the dCache source normalises
 * as it pairs moves and enriches closes), which the intake takes as it is — each event is normalised once.
 */
export type SourceMessage =
  | {
      /** raw bytes (parsed as JSON by the core) or an already-parsed JSON value — our CloudEvent, or
       *  a dCache envelope `{"event":{…},"subscription":…,"path":…,"id"?:…}` */
      payload: Buffer | unknown;
      receivedAt: Date;
      /** CloudEvent `source` for messages that name none, e.g. "mqtt://broker:1883/dcache/events" */
      origin: string;
    }
  | { event: StorageCloudEvent; receivedAt: Date };

/** "remote": shown by a replica that does not run the registration (another holds its lease) */
export type SourceState = "starting" | "connected" | "reconnecting" | "stopped" | "failed" | "remote";

export interface SourceSink {
  /**
   * The core commits what is delivered within one event-loop turn in one transaction (group
   * commit), so a source that reads ahead should call `deliver` per message without awaiting each,
   * and acknowledge each message when its promise resolves (promises resolve in delivery order).
   * A sink may also return nothing, meaning durable already; a synchronous throw means a rejection.
   */
  deliver(messages: SourceMessage[], cursor?: string): Promise<void> | void;
  /** reports connection state for /health and metrics; `detail` must not contain secrets */
  state(state: SourceState, detail?: string): void;
  /** the source cannot work until the owner changes the feed (e.g. credentials refused): the
   *  registration becomes disabled with this reason in READ, and the source is stopped */
  disable?(reason: string): void;
}

export interface SourceRegistration {
  /** "namespace/trigger" */
  id: string;
  /** stable for this registration's lifetime and shared by replicas, new when the trigger's feed is
   *  created again: derive upstream identities from it (MQTT client id and group, dCache client-id) */
  key: string;
  /** the source part of the feed config, credentials included (never log it) */
  config: SourceParams;
  /** the cursor committed with the last delivered messages (e.g. the last SSE event id), or null */
  cursor: string | null;
  /** this provider replica's id (stable across restarts), for per-replica upstream identities */
  replicaId: string;
  log: Logger;
  /**
   * The event types the registration's filter can pass (file arrivals: IN_CLOSE_WRITE and
   * IN_MOVED_TO); undefined: any. A source that can select upstream asks for these only, so reads
   * and other traffic in the watched tree do not stream to the provider to be dropped here.
   */
  types?: ReadonlySet<EventType>;
  /**
   * Whether the registration's filter passes a file's path (undefined: any path). A source that
   * does work per file before the filter (dCache's enrichment lookups) does it only for these: the
   * rest are dropped after it.
   */
  passes?: (path: string) => boolean;
}

export interface StopOptions {
  /** the registration is deleted or its source changed: also drop upstream state (MQTT session, dCache channel) */
  forget?: boolean;
}

export interface RunningSource {
  stop(opts?: StopOptions): Promise<void>;
  /**
   * Sources over a listable store (dCache): emit every file of the watched tree as an arrival, seen
   * or not, so that the file ledger fires those it has no outcome for. Resolves with the count.
   */
  reconcile?(): Promise<number>;
}

export interface Source {
  readonly kind: SourceParams["kind"];
  /** starts receiving; resolves once started (not necessarily connected: the source keeps retrying) */
  start(registration: SourceRegistration, sink: SourceSink): Promise<RunningSource>;
}
