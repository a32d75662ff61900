// Fenced writes on the PostgreSQL store: a replica whose lease was taken over (newer token, or
// another owner) cannot add outbox rows, move the cursor, remove outbox rows or dead-letter them.
import { expect } from "chai";
import pg from "pg";
import { LeaseTable } from "../../feeds/provider/ha/leases.ts";
import { LeaseLostError, PostgresStore, type Fence } from "../../feeds/provider/store/postgres.ts";
import { emptyStats } from "../../feeds/provider/store/types.ts";
import { PG_URL, checkPostgres } from "./support/cluster.ts";

describe("feed provider HA: fenced store writes", () => {
  const schema = `feedfence_${process.pid}_${Date.now().toString(36)}`;
  let store: PostgresStore;
  let leases: LeaseTable;
  let fence: Fence | undefined;

  before(async () => {
    await checkPostgres();
    store = new PostgresStore({ connectionString: PG_URL, schema });
    await store.migrate();
    leases = new LeaseTable(store);
    store.setFence(() => fence);
    const now = Date.now();
    await store.putRegistration({
      id: "guest/f",
      namespace: "guest",
      trigger: "f",
      publicConfig: {},
      sealed: "v1:x",
      state: "active",
      reason: null,
      dateChanged: now,
      cursor: null,
      stats: emptyStats(),
      createdAt: now,
    });
  });
  after(async () => {
    await store?.close();
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  });

  const ev = (id: string) => ({ eventId: id, body: `{"id":"${id}"}`, bytes: 12, receivedAt: Date.now() });

  it("writes with the current lease, refuses them after a takeover", async () => {
    const t1 = await leases.acquire("reg:guest/f", "ra", 200);
    expect(t1).to.equal(1);
    expect(await leases.acquire("reg:guest/f", "rb", 200), "held by ra").to.equal(undefined);
    fence = { unit: "reg:guest/f", owner: "ra", token: t1! };
    const [e1] = await store.appendIntake("guest/f", { events: [ev("e1")], dead: [], cursor: "c1" });
    expect((await store.getRegistration("guest/f"))!.cursor).to.equal("c1");

    await new Promise((r) => setTimeout(r, 250)); // ra's lease runs out
    const t2 = await leases.acquire("reg:guest/f", "rb", 10_000);
    expect(t2).to.equal(2);
    // ra, not knowing yet, tries to commit: nothing is written
    let err: unknown;
    await store.appendIntake("guest/f", { events: [ev("e2")], dead: [], cursor: "c2" }).catch((e) => (err = e));
    expect(err).to.be.instanceOf(LeaseLostError);
    await store.removeOutbox("guest/f", [e1!.seq]).then(
      () => (err = undefined),
      (e) => (err = e),
    );
    expect(err).to.be.instanceOf(LeaseLostError);
    await store.moveToDeadLetters("guest/f", [e1!], "x", null).then(
      () => (err = undefined),
      (e) => (err = e),
    );
    expect(err).to.be.instanceOf(LeaseLostError);
    expect((await store.loadOutbox("guest/f")).map((e) => e.eventId)).to.deep.equal(["e1"]);
    expect((await store.getRegistration("guest/f"))!.cursor).to.equal("c1");
    // renewing the old token fails too: ra learns that the unit is gone
    expect([...(await leases.renew("ra", [{ unit: "reg:guest/f", token: 1 }], 10_000))]).to.deep.equal([]);

    // the new owner writes and fires
    fence = { unit: "reg:guest/f", owner: "rb", token: t2! };
    await store.appendIntake("guest/f", { events: [ev("e2")], dead: [], cursor: "c2" });
    await store.removeOutbox("guest/f", [e1!.seq]);
    expect((await store.loadOutbox("guest/f")).map((e) => e.eventId)).to.deep.equal(["e2"]);
    // a released lease is not renewed, and is free for the next replica at once
    await leases.release("reg:guest/f", "rb", 2);
    expect([...(await leases.renew("rb", [{ unit: "reg:guest/f", token: 2 }], 10_000))]).to.deep.equal([]);
    expect(await leases.acquire("reg:guest/f", "rc", 10_000)).to.equal(3);
  });

  it("refuses writes for a registration whose unit this replica does not hold", async () => {
    fence = undefined;
    let err: unknown;
    await store.appendIntake("guest/f", { events: [ev("e3")], dead: [], cursor: "c3" }).catch((e) => (err = e));
    expect(err).to.be.instanceOf(LeaseLostError);
    expect((err as Error).message).to.match(/no longer holds the lease of registration guest\/f/);
  });
});
