// What the provider keeps durably: registrations (with sealed credentials and the source cursor), the
// outbox of events waiting to be fired, dead letters, and the file ledger (ledger/types.ts). SQLite
// and PostgreSQL implement the same interface; every method that moves events between tables does
// so in one transaction, together with the ledger entries the move changes.
import type { FileEntry, LedgerStore } from "../ledger/types.ts";

export type RegistrationState = "active" | "paused" | "disabled";

export interface StatusReason {
  /** USER: paused by the owner; AUTO: disabled by the provider after OpenWhisk refused a fire */
  kind: "USER" | "AUTO";
  statusCode?: number;
  message: string;
}

export interface DeliveryStats {
  fires: number;
  firedEvents: number;
  retries: number;
  deadLettered: number;
  dropped: number;
  lastFire: number | null;
  lastFireStatus: number | null;
}

export function emptyStats(): DeliveryStats {
  return { fires: 0, firedEvents: 0, retries: 0, deadLettered: 0, dropped: 0, lastFire: null, lastFireStatus: null };
}

export interface RegistrationRecord {
  /** "namespace/trigger" */
  id: string;
  namespace: string;
  trigger: string;
  /** feed config with secrets redacted (what READ shows) */
  publicConfig: unknown;
  /** SecretBox-sealed JSON `{authKey, config}` (the full config, secrets included) */
  sealed: string;
  state: RegistrationState;
  reason: StatusReason | null;
  dateChanged: number;
  /** source position (e.g. the last SSE event id) committed together with the events it covers */
  cursor: string | null;
  stats: DeliveryStats;
  createdAt: number;
}

export interface NewEvent {
  eventId: string;
  body: string;
  bytes: number;
  receivedAt: number;
}

export interface OutboxEntry extends NewEvent {
  seq: number;
}

export interface DeadLetter extends OutboxEntry {
  reason: string;
  statusCode: number | null;
  deadAt: number;
}

export interface Intake {
  events: NewEvent[];
  /** events that can never be fired (e.g. larger than maxBytes on their own) */
  dead: { event: NewEvent; reason: string }[];
  /** new source position, stored in the same transaction as the events */
  cursor?: string;
  /** ledger entries the events create or change, stored in the same transaction */
  files?: FileEntry[];
}

export interface Store extends LedgerStore {
  readonly kind: "sqlite" | "postgres";
  /** applies pending migrations; returns the schema version */
  migrate(): Promise<number>;
  ping(): Promise<void>;
  close(): Promise<void>;

  listRegistrations(): Promise<RegistrationRecord[]>;
  getRegistration(id: string): Promise<RegistrationRecord | undefined>;
  /** inserts or replaces a registration (its outbox and dead letters are kept) */
  putRegistration(rec: RegistrationRecord): Promise<void>;
  setState(id: string, state: RegistrationState, reason: StatusReason | null, dateChanged: number): Promise<void>;
  setStats(id: string, stats: DeliveryStats): Promise<void>;
  /** replaces the sealed credentials only if they are still `old` (key rotation; cursor and state untouched) */
  replaceSealed(id: string, old: string, sealed: string): Promise<boolean>;
  /**
   * removes the registration with its outbox and dead letters; its file ledger stays, because
   * `serverless deploy` deletes and creates every feed: the trigger created again under the same
   * name goes on knowing what became of its files
   */
  deleteRegistration(id: string): Promise<void>;

  appendIntake(regId: string, intake: Intake): Promise<OutboxEntry[]>;
  /** the same, done before returning, for stores that can (SQLite): lets sources acknowledge without an event-loop turn */
  appendIntakeSync?(regId: string, intake: Intake): OutboxEntry[];
  loadOutbox(regId: string): Promise<OutboxEntry[]>;
  /** removes fired events; `files` (their ledger entries, now fired) are stored in the same transaction */
  removeOutbox(regId: string, seqs: number[], files?: FileEntry[]): Promise<void>;
  moveToDeadLetters(regId: string, entries: OutboxEntry[], reason: string, statusCode: number | null, files?: FileEntry[]): Promise<void>;
  listDeadLetters(regId: string, opts: { limit: number; after?: number }): Promise<DeadLetter[]>;
  countDeadLetters(regId: string): Promise<number>;
  /** moves dead letters (all, or the given seqs) back to the tail of the outbox, oldest first */
  replayDeadLetters(regId: string, seqs?: number[]): Promise<OutboxEntry[]>;
}
