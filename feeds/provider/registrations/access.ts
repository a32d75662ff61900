// Who may act on a registration: the trigger's owner (the key the registration was made with, or a
// key OpenWhisk confirms owns the trigger now) or, for the dead-letter and file routes, an operator
// holding the provider's credentials.
import { createHash, timingSafeEqual } from "node:crypto";
import { OwnershipError, parseTriggerName, verifyTriggerOwner, type TriggerRef } from "../ownership.ts";
import type { SecretBox } from "../secrets.ts";
import type { RegistrationRecord, Store } from "../store/types.ts";
import { ApiError, type Sealed } from "./types.ts";

/** A stored registration with its sealed part opened. */
export interface Found {
  rec: RegistrationRecord;
  sealed: Sealed;
}

function sameKey(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a).digest();
  const hb = createHash("sha256").update(b).digest();
  return timingSafeEqual(ha, hb);
}

export function parseRef(triggerName: unknown): TriggerRef {
  const ref = typeof triggerName === "string" ? parseTriggerName(triggerName) : undefined;
  if (!ref) throw new ApiError(400, "parameter `triggerName` must look like /namespace/trigger");
  return ref;
}

/** Asks OpenWhisk whether `authKey` owns the trigger; its refusal becomes the API's answer. */
export async function verifyOwner(apihost: string, ref: TriggerRef, authKey: string): Promise<TriggerRef> {
  try {
    return await verifyTriggerOwner(apihost, ref, authKey);
  } catch (e) {
    if (e instanceof OwnershipError) throw new ApiError(e.status, e.message);
    throw e;
  }
}

export class Access {
  constructor(
    private readonly store: Store,
    private readonly box: SecretBox,
  ) {}

  unseal(rec: RegistrationRecord): Sealed {
    return JSON.parse(this.box.open(rec.sealed, rec.id)) as Sealed;
  }

  /** The registration a lifecycle call names, after checking the caller's key. */
  async find(triggerName: string, ownerKey: string | undefined): Promise<Found> {
    const ref = parseRef(triggerName);
    if (!ownerKey) throw new ApiError(401, "the trigger owner's key is missing (header X-Owner-Key)");
    // "_" is the caller's own namespace: the trigger of that name whose owner's key this is
    const recs =
      ref.namespace === "_"
        ? (await this.store.listRegistrations()).filter((r) => r.trigger === ref.name)
        : [await this.store.getRegistration(`${ref.namespace}/${ref.name}`)].filter((r): r is RegistrationRecord => !!r);
    const all = recs.map((rec) => ({ rec, sealed: this.unseal(rec) }));
    const found = ref.namespace === "_" ? all.find((x) => sameKey(x.sealed.authKey, ownerKey)) : all[0];
    if (!found) throw new ApiError(404, `no feed registration for trigger ${triggerName}; create the trigger with the feed first`);
    // the owner may have a new key: OpenWhisk decides
    if (!sameKey(found.sealed.authKey, ownerKey))
      await verifyOwner(found.sealed.apihost, { namespace: found.rec.namespace, name: found.rec.trigger }, ownerKey);
    return found;
  }

  /** As find, but without an owner's key the caller is an operator (it passed the provider's credentials). */
  async findAdmin(triggerName: string, ownerKey: string | undefined): Promise<RegistrationRecord> {
    if (ownerKey) return (await this.find(triggerName, ownerKey)).rec;
    const ref = parseRef(triggerName);
    const rec = await this.store.getRegistration(`${ref.namespace}/${ref.name}`);
    if (!rec) throw new ApiError(404, `no feed registration for trigger ${triggerName}`);
    return rec;
  }
}
