// The name a schema's precompiled validator goes by in a bundle: a hash of the schema itself, so a
// changed schema can never meet a validator precompiled for its former self.
import { createHash } from "node:crypto";

export function schemaKey(schema: unknown): string {
  return `v${createHash("sha256").update(JSON.stringify(schema)).digest("hex").slice(0, 24)}`;
}
