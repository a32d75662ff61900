// Deterministic identifiers: the same file always gets the same id, so a replayed event updates
// the catalogue entry instead of creating a second one (as ESS's ingestor does).
import { createHash } from "node:crypto";

/** RFC 4122 version 5 (SHA-1, name-based) UUID of `name` within `namespace` (a UUID). */
export function uuidV5(name: string, namespace = "6ba7b811-9dad-11d1-80b4-00c04fd430c8"): string {
  const ns = Buffer.from(namespace.replace(/-/g, ""), "hex");
  const h = createHash("sha1").update(ns).update(name, "utf8").digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}
