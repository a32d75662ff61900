// Which code is running: a function passes this on with its result, so that what it produced can be
// traced to the exact bundle (the same SHA-256 the build records and deploy annotates) and activation.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { activation } from "./activation.ts";

export interface FunctionVersion {
  /** the action's fully qualified name, e.g. /guest/facility-dev-checksum */
  action: string | null;
  activationId: string | null;
  /** SHA-256 of the running bundle; null when running from TypeScript sources (tests, tsx) */
  bundleSha256: string | null;
}

let ownHash: string | null | undefined;

// In the bundle, import.meta.url is the bundle file itself (scripts/build defines it so).
function bundleHash(): string | null {
  if (ownHash !== undefined) return ownHash;
  try {
    const file = fileURLToPath(import.meta.url);
    ownHash = file.endsWith(".js") ? createHash("sha256").update(readFileSync(file)).digest("hex") : null;
  } catch {
    ownHash = null;
  }
  return ownHash;
}

/** The running code and the activation it serves (lib/activation.ts: safe with concurrent activations). */
export function functionVersion(): FunctionVersion {
  const a = activation();
  return { action: a.action, activationId: a.activationId, bundleSha256: bundleHash() };
}
