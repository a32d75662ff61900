// READ's answer: the store's record, with the live figures where the registration runs here.
import type { Store } from "../store/types.ts";
import type { Found } from "./access.ts";
import type { Runtime } from "./runner.ts";
import type { ReadView } from "./types.ts";

export async function readView(store: Store, found: Found, rt: Runtime | undefined): Promise<ReadView> {
  const rec = rt?.rec ?? found.rec;
  const s = rt?.delivery.stats ?? rec.stats;
  const kind = found.sealed.config.source.kind;
  return {
    config: rec.publicConfig as ReadView["config"],
    status: {
      active: rec.state === "active",
      dateChanged: rec.dateChanged,
      dateChangedISO: new Date(rec.dateChanged).toISOString(),
      reason: rec.reason,
    },
    delivery: {
      pending: rt ? rt.delivery.pending : (await store.loadOutbox(rec.id)).length,
      fires: s.fires,
      firedEvents: s.firedEvents,
      retries: s.retries,
      deadLettered: await store.countDeadLetters(rec.id),
      dropped: s.dropped,
      lastFire: s.lastFire,
      lastFireISO: s.lastFire === null ? null : new Date(s.lastFire).toISOString(),
      lastFireStatus: s.lastFireStatus,
    },
    source: rt
      ? { kind, state: rt.sourceState, ...(rt.sourceDetail ? { detail: rt.sourceDetail } : {}) }
      : { kind, state: "remote", detail: "run by the replica holding its lease" },
    files: await store.countFiles(rec.id),
  };
}
