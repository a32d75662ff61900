// HTTP Basic authentication with OpenWhisk's `uuid:key` credentials, each mapped to one namespace.
import { timingSafeEqual } from "node:crypto";
import { ApiError, Messages } from "./errors.ts";

export interface Identity {
  namespace: string;
  uuid: string;
  key: string;
}

export const GUEST_AUTH = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP";

export class Authenticator {
  private byUuid = new Map<string, Identity>();
  // Parsing and comparing the same header on every invoke is measurable: remember good headers.
  private accepted = new Map<string, Identity>();

  constructor(identities: { namespace: string; auth: string }[]) {
    for (const { namespace, auth } of identities) {
      const i = auth.indexOf(":");
      this.byUuid.set(auth.slice(0, i), { namespace, uuid: auth.slice(0, i), key: auth.slice(i + 1) });
    }
  }

  /** The identity that owns namespace `ns` (web actions run as their owner). */
  ownerOf(ns: string): Identity | undefined {
    for (const id of this.byUuid.values()) if (id.namespace === ns) return id;
    return undefined;
  }

  /** The identity of key `uuid`, if it is still configured. */
  withUuid(uuid: string): Identity | undefined {
    return this.byUuid.get(uuid);
  }

  namespaces(): string[] {
    return [...new Set([...this.byUuid.values()].map((i) => i.namespace))];
  }

  authenticate(header: string | undefined): Identity {
    if (!header) throw new ApiError(401, Messages.missingAuth);
    const known = this.accepted.get(header);
    if (known) return known;
    const m = /^Basic\s+(\S+)$/i.exec(header);
    if (!m) throw new ApiError(401, Messages.unauthorized);
    const decoded = Buffer.from(m[1]!, "base64").toString("utf8");
    const i = decoded.indexOf(":");
    const id = i > 0 ? this.byUuid.get(decoded.slice(0, i)) : undefined;
    if (!id || !sameSecret(id.key, decoded.slice(i + 1))) throw new ApiError(401, Messages.unauthorized);
    if (this.accepted.size < 1000) this.accepted.set(header, id);
    return id;
  }
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
