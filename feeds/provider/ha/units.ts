// The unit of work replicas share: a registration — or, for dCache, every registration sharing one
// channel (frontend + credential), because dCache lets one client hold a channel's SSE stream.
import { channelKey } from "../sources/dcache/credentials.ts";
import type { Sealed } from "../registrations/types.ts";
import type { RegistrationRecord } from "../store/types.ts";

export class Units {
  /** by sealed blob: opening it costs a decryption */
  private readonly cache = new Map<string, string>();

  constructor(private readonly unseal: (rec: RegistrationRecord) => Sealed) {}

  of(rec: RegistrationRecord): string {
    let u = this.cache.get(rec.sealed);
    if (u === undefined) {
      const source = this.unseal(rec).config.source;
      u = source.kind === "dcache" ? `dcache:${channelKey(source).slice(0, 32)}` : `reg:${rec.id}`;
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(rec.sealed, u);
    }
    return u;
  }
}
