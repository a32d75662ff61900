import { expect } from "chai";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundleAction } from "../../scripts/build/bundle.ts";
import { functionVersion } from "../../lib/provenance.ts";
import { projectRoot } from "../support/service.ts";
import { runActionZip } from "../../scripts/runtime/run-action.ts";

describe("lib/provenance", () => {
  it("reports the running bundle's SHA-256 and the activation, as the build recorded it", async function () {
    this.timeout(60000);
    const src = mkdtempSync(join(projectRoot, "test", ".tmp-prov-"));
    const entry = join(src, "index.ts");
    writeFileSync(
      entry,
      `import { functionVersion } from "../../lib/provenance.ts";\nexport const main = () => ({ v: functionVersion() });\n`,
    );
    const out = mkdtempSync(join(tmpdir(), "prov-"));
    const built = await bundleAction({ name: "prov", entry }, out, { projectDir: projectRoot });
    const r = await runActionZip(built.zipPath, {}, { env: { __OW_ACTION_NAME: "/guest/prov", __OW_ACTIVATION_ID: "a".repeat(32) } });
    expect(r.result).to.deep.equal({ v: { action: "/guest/prov", activationId: "a".repeat(32), bundleSha256: built.sha256 } });
    expect(built.sha256).to.equal(createHash("sha256").update(readFileSync(built.bundlePath)).digest("hex"));
    rmSync(src, { recursive: true, force: true });
  });

  it("says null for the hash when running from sources", () => {
    expect(functionVersion().bundleSha256).to.equal(null);
  });
});
