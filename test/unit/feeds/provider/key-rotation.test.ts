// Rotating the provider key: credentials sealed under a previous key still open, and are sealed
// again under the current key without touching cursor or state.
import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resealAll } from "../../../../feeds/provider/reseal.ts";
import { SecretBox } from "../../../../feeds/provider/secrets.ts";
import { SqliteStore } from "../../../../feeds/provider/store/sqlite.ts";
import { emptyStats } from "../../../../feeds/provider/store/types.ts";

describe("feeds/provider: provider key rotation", () => {
  const dir = mkdtempSync(join(tmpdir(), "feed-rotate-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("opens with a previous key, re-seals under the current one, keeps the cursor", async () => {
    const oldKey = "11".repeat(32);
    const newKey = "22".repeat(32);
    const store = new SqliteStore(join(dir, "p.sqlite"));
    await store.migrate();
    const old = SecretBox.fromString(oldKey);
    const now = Date.now();
    await store.putRegistration({
      id: "guest/t",
      namespace: "guest",
      trigger: "t",
      publicConfig: {},
      sealed: old.seal("secret-config", "guest/t"),
      state: "active",
      reason: null,
      dateChanged: now,
      cursor: "c-42",
      stats: emptyStats(),
      createdAt: now,
    });
    const onlyNew = SecretBox.fromString(newKey);
    const rotating = onlyNew.withPrevious([SecretBox.fromString(oldKey)]);
    const before = (await store.getRegistration("guest/t"))!;
    expect(() => onlyNew.open(before.sealed, "guest/t")).to.throw(/provider key differs/);
    expect(rotating.open(before.sealed, "guest/t")).to.equal("secret-config");
    expect(rotating.needsReseal(before.sealed, "guest/t")).to.equal(true);
    expect(await resealAll(store, rotating)).to.equal(1);
    const after = (await store.getRegistration("guest/t"))!;
    expect(onlyNew.open(after.sealed, "guest/t")).to.equal("secret-config");
    expect(after.cursor).to.equal("c-42");
    expect(rotating.needsReseal(after.sealed, "guest/t")).to.equal(false);
    expect(await resealAll(store, rotating)).to.equal(0);
    // a concurrent change wins over a stale re-seal
    expect(await store.replaceSealed("guest/t", before.sealed, "v1:x")).to.equal(false);
    await store.close();
  });
});
