// Which code is running: a function passes this on with its result, so that what it produced can be
// traced to the exact bundle (the same SHA-256 the build records and deploy annotates) and activation.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

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

export function functionVersion(): FunctionVersion {
  return {
    action: process.env.__OW_ACTION_NAME ?? null,
    activationId: process.env.__OW_ACTIVATION_ID ?? null,
    bundleSha256: bundleHash(),
  };
}
