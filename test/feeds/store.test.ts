import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { SecretBox } from "../../feeds/provider/secrets.ts";
import { PostgresStore } from "../../feeds/provider/store/postgres.ts";
import { SqliteStore } from "../../feeds/provider/store/sqlite.ts";
import { emptyStats, type RegistrationRecord, type Store } from "../../feeds/provider/store/types.ts";

const PG_URL = process.env.FEED_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/test";

function rec(id: string): RegistrationRecord {
  const [namespace, trigger] = id.split("/") as [string, string];
  return { id, namespace, trigger, publicConfig: { source: { kind: "mqtt" } }, sealed: "v1:x", state: "active", reason: null, dateChanged: 1, cursor: null, stats: emptyStats(), createdAt: Date.now() };
}
const ev = (i: number) => ({ eventId: `e${i}`, body: JSON.stringify({ i }), bytes: 7, receivedAt: 1000 + i });

function storeContract(name: string, make: () => Promise<Store>, cleanup: () => Promise<void>) {
  describe(`feeds/provider store: ${name}`, () => {
    let store: Store;
    before(async () => {
      store = await make();
    });
    after(async () => {
      await store?.close();
      await cleanup();
    });

    it("migrates idempotently to a versioned schema", async () => {
      // PostgreSQL has a second version: the lease and heartbeat tables of replicas sharing the store
      const latest = store.kind === "postgres" ? 2 : 1;
      expect(await store.migrate()).to.equal(latest);
      expect(await store.migrate()).to.equal(latest);
    });

    it("keeps registrations with state, reason, cursor and stats", async () => {
      await store.putRegistration(rec("guest/t1"));
      await store.setState("guest/t1", "disabled", { kind: "AUTO", statusCode: 404, message: "gone" }, 42);
      await store.setStats("guest/t1", { ...emptyStats(), fires: 3 });
      const r = await store.getRegistration("guest/t1");
      expect(r).to.deep.include({ state: "disabled", reason: { kind: "AUTO", statusCode: 404, message: "gone" }, dateChanged: 42 });
      expect(r!.stats.fires).to.equal(3);
      expect((await store.listRegistrations()).map((x) => x.id)).to.include("guest/t1");
    });

    it("appends events, dead letters and the cursor in one intake, in order", async () => {
      await store.putRegistration(rec("guest/t2"));
      const a = await store.appendIntake("guest/t2", { events: [ev(1), ev(2), ev(3)], dead: [{ event: ev(99), reason: "too large" }], cursor: "17" });
      expect(a.map((e) => e.eventId)).to.deep.equal(["e1", "e2", "e3"]);
      expect(a[0]!.seq).to.be.lessThan(a[1]!.seq);
      expect((await store.getRegistration("guest/t2"))!.cursor).to.equal("17");
      expect((await store.loadOutbox("guest/t2")).map((e) => e.eventId)).to.deep.equal(["e1", "e2", "e3"]);
      expect(await store.countDeadLetters("guest/t2")).to.equal(1);
      await store.removeOutbox("guest/t2", [a[0]!.seq]);
      expect((await store.loadOutbox("guest/t2")).map((e) => e.eventId)).to.deep.equal(["e2", "e3"]);
    });

    it("moves events to dead letters and replays them to the tail of the outbox", async () => {
      const out = await store.loadOutbox("guest/t2");
      await store.moveToDeadLetters("guest/t2", [out[0]!], "maxAge", 503);
      const dl = await store.listDeadLetters("guest/t2", { limit: 10 });
      expect(dl.map((d) => [d.eventId, d.reason, d.statusCode])).to.deep.equal([["e99", "too large", null], ["e2", "maxAge", 503]]);
      expect((await store.listDeadLetters("guest/t2", { limit: 10, after: dl[0]!.seq })).length).to.equal(1);
      await store.appendIntake("guest/t2", { events: [ev(4)], dead: [] });
      const replayed = await store.replayDeadLetters("guest/t2", [dl[1]!.seq]);
      expect(replayed.map((e) => e.eventId)).to.deep.equal(["e2"]);
      expect((await store.loadOutbox("guest/t2")).map((e) => e.eventId)).to.deep.equal(["e3", "e4", "e2"]);
      expect(await store.countDeadLetters("guest/t2")).to.equal(1);
    });

    it("deletes a registration with its outbox and dead letters", async () => {
      await store.deleteRegistration("guest/t2");
      expect(await store.getRegistration("guest/t2")).to.equal(undefined);
      expect(await store.loadOutbox("guest/t2")).to.deep.equal([]);
      expect(await store.countDeadLetters("guest/t2")).to.equal(0);
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), "feed-store-"));
storeContract("SQLite", async () => {
  const s = new SqliteStore(join(dir, "p.sqlite"));
  await s.migrate();
  return s;
}, async () => rmSync(dir, { recursive: true, force: true }));

const schema = `feedtest_${process.pid}_${Date.now().toString(36)}`;
storeContract("PostgreSQL", async () => {
  const s = new PostgresStore({ connectionString: PG_URL, schema });
  try {
    await s.ping();
  } catch (e) {
    throw new Error(`PostgreSQL is needed at ${PG_URL} (set FEED_TEST_PG to another URL): ${(e as Error).message}`);
  }
  await s.migrate();
  return s;
}, async () => {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await c.end();
});

describe("feeds/provider: credentials sealed at rest", () => {
  it("round-trips, binds to the registration, and refuses another key", () => {
    const box = SecretBox.fromString("a".repeat(64));
    const sealed = box.seal('{"authKey":"u:k-very-secret"}', "guest/t");
    expect(sealed).to.not.include("very-secret");
    expect(box.open(sealed, "guest/t")).to.equal('{"authKey":"u:k-very-secret"}');
    expect(() => box.open(sealed, "guest/other")).to.throw(/cannot be decrypted/);
    expect(() => SecretBox.fromString("b".repeat(64)).open(sealed, "guest/t")).to.throw(/provider key differs/);
    expect(() => SecretBox.fromString("short")).to.throw(/too short/);
    expect(SecretBox.fromString("a long enough passphrase").seal("x", "y")).to.match(/^v1:/);
  });
});
