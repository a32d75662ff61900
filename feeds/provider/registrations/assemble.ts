// Puts the registrations' parts together the one way the provider runs them: the lifecycle API over
// the store, the runner of what runs here, and the owner that makes the two match — the lease
// coordinator when replicas share PostgreSQL, the single replica on SQLite.
import { Coordinator } from "../ha/coordinator.ts";
import { LeaseTable } from "../ha/leases.ts";
import { SingleReplica } from "../ha/single.ts";
import { Units } from "../ha/units.ts";
import type { Logger } from "../log.ts";
import type { ProviderMetrics } from "../metrics.ts";
import type { BackoffPolicy } from "../pipeline/backoff.ts";
import type { FireOutcome, FireTarget } from "../pipeline/firer.ts";
import type { SecretBox } from "../secrets.ts";
import type { Source } from "../sources/types.ts";
import type { PostgresStore } from "../store/postgres.ts";
import type { Store } from "../store/types.ts";
import { Access } from "./access.ts";
import { Registrations } from "./registrations.ts";
import { Runner } from "./runner.ts";

export interface AssembleOptions {
  store: Store;
  box: SecretBox;
  sources: Map<string, Source>;
  metrics: ProviderMetrics;
  log: Logger;
  /** OpenWhisk API host the provider is configured with; when unset, the one the feed action reports */
  apihost?: string;
  replicaId: string;
  backoff: BackoffPolicy;
  maxPending: number;
  fireTimeoutMs: number;
  fire?: (target: FireTarget, body: string, timeoutMs: number) => Promise<FireOutcome>;
  /** replicas on PostgreSQL: the lease and the time to hand a unit over */
  leaseMs?: number;
  handoverGraceMs?: number;
}

export interface Assembled {
  registrations: Registrations;
  runner: Runner;
  owner: Coordinator | SingleReplica;
  /** set when replicas share a PostgreSQL store */
  coordinator?: Coordinator;
}

export function assembleRegistrations(o: AssembleOptions): Assembled {
  const { store, box, sources, metrics, log } = o;
  const access = new Access(store, box);
  const shared = store.kind === "postgres";
  const runner = new Runner({
    store,
    access,
    sources,
    metrics,
    log,
    // replicas sharing a store resume the same upstream sessions, whichever runs a unit
    sourceIdentity: shared ? "shared" : o.replicaId,
    backoff: o.backoff,
    maxPending: o.maxPending,
    fireTimeoutMs: o.fireTimeoutMs,
    fire: o.fire,
  });
  const coordinator = shared
    ? new Coordinator({
        leases: new LeaseTable(store as PostgresStore),
        store: store as PostgresStore,
        runner,
        units: new Units((rec) => access.unseal(rec)),
        replicaId: o.replicaId,
        leaseMs: o.leaseMs ?? 10_000,
        handoverGraceMs: o.handoverGraceMs ?? 0,
        log: log.child({ component: "leases" }),
        metrics,
      })
    : undefined;
  const owner = coordinator ?? new SingleReplica({ store, runner, log });
  const registrations = new Registrations({ store, box, access, runner, owner, sourceKinds: [...sources.keys()], log, apihost: o.apihost });
  return { registrations, runner, owner, ...(coordinator ? { coordinator } : {}) };
}
