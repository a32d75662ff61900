import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { SecretBox } from "../../feeds/provider/secrets.ts";
import { PostgresStore } from "../../feeds/provider/store/postgres.ts";
import { SqliteStore } from "../../feeds/provider/store/sqlite.ts";
import type { FileEntry } from "../../feeds/provider/ledger/types.ts";
import { emptyStats, type RegistrationRecord, type Store } from "../../feeds/provider/store/types.ts";

const PG_URL = process.env.FEED_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/test";

function rec(id: string): RegistrationRecord {
  const [namespace, trigger] = id.split("/") as [string, string];
  return {
    id,
    namespace,
    trigger,
    publicConfig: { source: { kind: "mqtt" } },
    sealed: "v1:x",
    state: "active",
    reason: null,
    dateChanged: 1,
    cursor: null,
    stats: emptyStats(),
    createdAt: Date.now(),
  };
}
const ev = (i: number) => ({ eventId: `e${i}`, body: JSON.stringify({ i }), bytes: 7, receivedAt: 1000 + i });
const file = (path: string, state: FileEntry["state"], extra: Partial<FileEntry> = {}): FileEntry => ({
  regId: "guest/t3",
  path,
  state,
  event: JSON.stringify({ id: path }),
  eventIds: [path],
  arrivedAt: 1,
  updatedAt: 1,
  rules: {},
  ...extra,
});

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
      // PostgreSQL has one more version: the lease and heartbeat tables of replicas sharing the store;
      // both have the file ledger
      const latest = store.kind === "postgres" ? 3 : 2;
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
      const a = await store.appendIntake("guest/t2", {
        events: [ev(1), ev(2), ev(3)],
        dead: [{ event: ev(99), reason: "too large" }],
        cursor: "17",
      });
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
      expect(dl.map((d) => [d.eventId, d.reason, d.statusCode])).to.deep.equal([
        ["e99", "too large", null],
        ["e2", "maxAge", 503],
      ]);
      expect((await store.listDeadLetters("guest/t2", { limit: 10, after: dl[0]!.seq })).length).to.equal(1);
      await store.appendIntake("guest/t2", { events: [ev(4)], dead: [] });
      const replayed = await store.replayDeadLetters("guest/t2", [dl[1]!.seq]);
      expect(replayed.map((e) => e.eventId)).to.deep.equal(["e2"]);
      expect((await store.loadOutbox("guest/t2")).map((e) => e.eventId)).to.deep.equal(["e3", "e4", "e2"]);
      expect(await store.countDeadLetters("guest/t2")).to.equal(1);
    });

    it("keeps the file ledger: written with the outbox change, listed by state and prefix, counted, due retries", async () => {
      await store.putRegistration(rec("guest/t3"));
      const a = await store.appendIntake("guest/t3", { events: [ev(1)], dead: [], files: [file("/a/1.nxs", "pending")] });
      expect((await store.getFiles("guest/t3", ["/a/1.nxs"])).get("/a/1.nxs")!.state).to.equal("pending");
      await store.removeOutbox("guest/t3", [a[0]!.seq], [file("/a/1.nxs", "fired", { triggerActivationId: "t1" })]);
      expect(await store.loadOutbox("guest/t3")).to.deep.equal([]);
      expect((await store.firedFiles("guest/t3", 10)).map((f) => [f.path, f.triggerActivationId])).to.deep.equal([["/a/1.nxs", "t1"]]);
      await store.putFiles("guest/t3", [
        file("/a/2_%.nxs", "failed", { step: "metadata", reason: "not HDF5", permanent: true }),
        file("/a/3.nxs", "retrying", { nextAt: 500 }),
        file("/a/4.nxs", "retrying", { nextAt: 5000 }),
        file("/b/5.nxs", "succeeded", { size: 5, adler32: "00000001" }),
        file("/ab/6.nxs", "failed"),
      ]);
      expect((await store.listFiles("guest/t3", { prefix: "/a/", limit: 10 })).map((f) => f.path)).to.deep.equal([
        "/a/1.nxs",
        "/a/2_%.nxs",
        "/a/3.nxs",
        "/a/4.nxs",
      ]);
      expect((await store.listFiles("guest/t3", { state: "failed", limit: 10 })).map((f) => f.path)).to.deep.equal([
        "/a/2_%.nxs",
        "/ab/6.nxs",
      ]);
      expect((await store.listFiles("guest/t3", { limit: 2, after: "/a/2_%.nxs" })).map((f) => f.path)).to.deep.equal([
        "/a/3.nxs",
        "/a/4.nxs",
      ]);
      expect((await store.getFiles("guest/t3", ["/a/2_%.nxs"])).get("/a/2_%.nxs")).to.deep.include({
        step: "metadata",
        reason: "not HDF5",
        permanent: true,
      });
      expect(await store.countFiles("guest/t3")).to.deep.equal({ pending: 0, fired: 1, retrying: 2, succeeded: 1, skipped: 0, failed: 2 });
      expect((await store.dueFiles("guest/t3", 1000, 10)).map((f) => f.path)).to.deep.equal(["/a/3.nxs"]);
    });

    it("deletes a registration with its outbox and dead letters, and keeps its file ledger (a redeploy creates it again)", async () => {
      await store.deleteRegistration("guest/t3");
      expect(await store.getRegistration("guest/t3")).to.equal(undefined);
      expect(await store.countFiles("guest/t3")).to.deep.include({ succeeded: 1, failed: 2 });
      await store.deleteRegistration("guest/t2");
      expect(await store.getRegistration("guest/t2")).to.equal(undefined);
      expect(await store.loadOutbox("guest/t2")).to.deep.equal([]);
      expect(await store.countDeadLetters("guest/t2")).to.equal(0);
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), "feed-store-"));
storeContract(
  "SQLite",
  async () => {
    const s = new SqliteStore(join(dir, "p.sqlite"));
    await s.migrate();
    return s;
  },
  async () => rmSync(dir, { recursive: true, force: true }),
);

const schema = `feedtest_${process.pid}_${Date.now().toString(36)}`;
storeContract(
  "PostgreSQL",
  async () => {
    const s = new PostgresStore({ connectionString: PG_URL, schema });
    try {
      await s.ping();
    } catch (e) {
      throw new Error(`PostgreSQL is needed at ${PG_URL} (set FEED_TEST_PG to another URL): ${(e as Error).message}`);
    }
    await s.migrate();
    return s;
  },
  async () => {
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  },
);

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
