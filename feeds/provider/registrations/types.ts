// What the lifecycle API and the runner share: the sealed part of a registration, READ's answer, and
// the error the HTTP API turns into a status code.
import { HttpError } from "../../../lib/http/server.ts";
import type { FeedConfig } from "../../common/feed-params.ts";
import type { FileState } from "../ledger/types.ts";
import type { SourceState } from "../sources/types.ts";
import type { DeliveryStats, StatusReason } from "../store/types.ts";

/** A lifecycle call that cannot be done: its status and what to do (lib/http/server.ts, docs/errors.md). */
export class ApiError extends HttpError {}

/** The secret part of a registration, sealed in the store: the owner's key and the full config. */
export interface Sealed {
  authKey: string;
  apihost: string;
  config: FeedConfig;
}

export interface ReadView {
  config: FeedConfig;
  status: { active: boolean; dateChanged: number; dateChangedISO: string; reason: StatusReason | null };
  /** the stored delivery counters, with the outbox depth and the last fire's time as ISO text */
  delivery: DeliveryStats & { pending: number; lastFireISO: string | null };
  source: { kind: string; state: SourceState; detail?: string };
  /** files by state in the ledger (all zero when the feed's `delivery.ledger` is off) */
  files: Record<FileState, number>;
}

/**
 * What an API call changed in the store, so the owner knows how to restart what runs: `config` (state,
 * batch, filter …: restart from the stored record), `outbox` (rows added: reload them too), `source`
 * (another source: its old upstream state — channel subscriptions, broker session — is dropped).
 */
export type ChangeKind = "config" | "outbox" | "source";

/**
 * Who runs each registration. The API changes a registration in the store, then tells the owner,
 * which makes what runs match the store: the lease coordinator (ha/coordinator.ts) among replicas
 * on PostgreSQL, or ha/single.ts for the one replica on SQLite.
 */
export interface Owner {
  changed(id: string, kind: ChangeKind): Promise<void>;
}
