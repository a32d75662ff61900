// Key rotation: credentials sealed under a previous provider key are sealed again under the current
// one. Compare-and-set per registration, so replicas starting together (or an API change meanwhile)
// never overwrite a newer value; cursor, state and outbox are not touched.
import type { SecretBox } from "./secrets.ts";
import type { Store } from "./store/types.ts";

/** Returns how many registrations were sealed again. */
export async function resealAll(store: Store, box: SecretBox): Promise<number> {
  let n = 0;
  for (const rec of await store.listRegistrations()) {
    if (!box.needsReseal(rec.sealed, rec.id)) continue;
    if (await store.replaceSealed(rec.id, rec.sealed, box.seal(box.open(rec.sealed, rec.id), rec.id))) n++;
  }
  return n;
}
