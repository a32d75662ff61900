// The batch stage's contract (batcher.ts): a fire carries `{"events":[…]}` cut from the head of the
// outbox in order, within maxEvents and maxBytes; a head event too large for any fire is reported, not
// fired; a batch is due at once when full, else maxWaitMs after its oldest event. The byte counts are
// checked against the UTF-8 length of the body as sent, and the body against JSON.parse.
// (The settle window is covered in test/feeds/arrival.test.ts.)
import { expect } from "chai";
import { batchDueAt, cutBatch, maxEventBytes, payloadBytes } from "../../../../../feeds/provider/pipeline/batcher.ts";
import type { OutboxEntry } from "../../../../../feeds/provider/store/types.ts";

/** An outbox entry whose body is a JSON event of about `pad` characters; `bytes` is its UTF-8 length. */
function entry(seq: number, pad = 10, ch = "x"): OutboxEntry {
  const body = JSON.stringify({ id: `e${seq}`, subject: `/d/${ch.repeat(pad)}` });
  return { seq, eventId: `e${seq}`, body, bytes: Buffer.byteLength(body), receivedAt: 0 };
}
const queueOf = (n: number, pad = 10) => Array.from({ length: n }, (_, i) => entry(i + 1, pad));
const sent = (entries: OutboxEntry[]) => `{"events":[${entries.map((e) => e.body).join(",")}]}`;

describe("feeds/provider batch stage: cutting fires from the outbox", () => {
  it('payloadBytes is the UTF-8 size of the {"events":[…]} body holding the events', () => {
    expect(payloadBytes([])).to.equal(Buffer.byteLength('{"events":[]}'));
    for (const q of [[entry(1)], queueOf(3), [entry(1, 5, "ü"), entry(2, 7, "字")]])
      expect(payloadBytes(q.map((e) => e.bytes))).to.equal(Buffer.byteLength(sent(q)));
  });

  it("cuts at most maxEvents from the head, in outbox order, as a JSON body of exactly `bytes` bytes", () => {
    const q = queueOf(7);
    const cut = cutBatch(q, { maxEvents: 3, maxWaitMs: 0, maxBytes: 900_000 });
    if (cut.kind !== "batch") throw new Error(`expected a batch, got ${cut.kind}`);
    expect(cut.entries.map((e) => e.seq)).to.deep.equal([1, 2, 3]);
    expect(JSON.parse(cut.body).events.map((e: { id: string }) => e.id)).to.deep.equal(["e1", "e2", "e3"]);
    expect(cut.bytes).to.equal(Buffer.byteLength(cut.body));
    // the queue itself is left alone: delivery removes entries only after OpenWhisk acknowledged them
    expect(q).to.have.length(7);
  });

  it("stops before the event that would take the body past maxBytes, counting multi-byte characters as bytes", () => {
    const q = [entry(1, 100, "ü"), entry(2, 100, "ü"), entry(3, 100, "ü")];
    const two = Buffer.byteLength(sent(q.slice(0, 2)));
    // exactly two fit: the limit is inclusive
    const exact = cutBatch(q, { maxEvents: 100, maxWaitMs: 0, maxBytes: two });
    expect(exact.kind === "batch" && exact.entries.map((e) => e.seq)).to.deep.equal([1, 2]);
    expect(exact.kind === "batch" && exact.bytes).to.equal(two);
    // one byte less: only one
    const less = cutBatch(q, { maxEvents: 100, maxWaitMs: 0, maxBytes: two - 1 });
    expect(less.kind === "batch" && less.entries.map((e) => e.seq)).to.deep.equal([1]);
    expect(less.kind === "batch" && Buffer.byteLength(less.body)).to.be.at.most(two - 1);
  });

  it("a head event that no fire can carry is reported as too large, whatever follows it", () => {
    const big = entry(1, 2000);
    const limits = { maxEvents: 10, maxWaitMs: 0, maxBytes: 1024 };
    const cut = cutBatch([big, entry(2)], limits);
    expect(cut.kind).to.equal("too-large");
    expect(cut.kind === "too-large" && cut.entry.seq).to.equal(1);
    // an event as large as a fire can carry alone still goes
    const body = `{"s":"${"y".repeat(maxEventBytes(limits) - 8)}"}`;
    const fits: OutboxEntry = { seq: 3, eventId: "e3", body, bytes: Buffer.byteLength(body), receivedAt: 0 };
    expect(fits.bytes).to.equal(maxEventBytes(limits));
    const alone = cutBatch([fits, entry(4)], limits);
    expect(alone.kind === "batch" && alone.entries.map((e) => e.seq)).to.deep.equal([3]);
    expect(alone.kind === "batch" && Buffer.byteLength(alone.body)).to.equal(1024);
  });

  it("an oversized event behind the head ends the batch before it (it becomes the next head)", () => {
    const cut = cutBatch([entry(1), entry(2), entry(3, 2000), entry(4)], { maxEvents: 10, maxWaitMs: 0, maxBytes: 1024 });
    expect(cut.kind === "batch" && cut.entries.map((e) => e.seq)).to.deep.equal([1, 2]);
  });

  it("an empty queue, or a head not yet settled, gives nothing to fire", () => {
    const limits = { maxEvents: 10, maxWaitMs: 0, maxBytes: 900_000 };
    expect(cutBatch([], limits).kind).to.equal("empty");
    expect(cutBatch(queueOf(3), limits, (e) => e.seq !== 1).kind).to.equal("empty");
  });
});

describe("feeds/provider batch stage: when a batch is due", () => {
  const at = (e: OutboxEntry) => 5000 + e.seq;
  const bytesOf = (q: OutboxEntry[]) => q.reduce((a, e) => a + e.bytes, 0);

  it("never, while the queue is empty", () => {
    expect(batchDueAt([], 0, { maxEvents: 1, maxWaitMs: 0, maxBytes: 1024 }, at)).to.equal(Infinity);
  });

  it("maxWaitMs after its oldest event while the batch is not full", () => {
    const q = queueOf(3);
    expect(batchDueAt(q, bytesOf(q), { maxEvents: 10, maxWaitMs: 250, maxBytes: 900_000 }, at)).to.equal(5001 + 250);
    expect(batchDueAt(q, bytesOf(q), { maxEvents: 10, maxWaitMs: 0, maxBytes: 900_000 }, at)).to.equal(5001);
  });

  it("at once when the queue holds maxEvents", () => {
    const q = queueOf(3);
    expect(batchDueAt(q, bytesOf(q), { maxEvents: 3, maxWaitMs: 60_000, maxBytes: 900_000 }, at)).to.equal(0);
    expect(batchDueAt(q.slice(0, 2), bytesOf(q.slice(0, 2)), { maxEvents: 3, maxWaitMs: 60_000, maxBytes: 900_000 }, at)).to.equal(
      5001 + 60_000,
    );
  });

  it("at once when the queued events fill maxBytes, and not one byte earlier", () => {
    const q = queueOf(3, 100);
    const full = Buffer.byteLength(sent(q));
    expect(batchDueAt(q, bytesOf(q), { maxEvents: 100, maxWaitMs: 60_000, maxBytes: full }, at)).to.equal(0);
    expect(batchDueAt(q, bytesOf(q), { maxEvents: 100, maxWaitMs: 60_000, maxBytes: full + 1 }, at)).to.equal(5001 + 60_000);
  });
});
