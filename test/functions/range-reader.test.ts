// The synchronous HTTP Range reader (lib/http) against the local dCache's WebDAV door: exact bytes,
// block cache, clear errors for a missing file, bad credentials, a server that ignores Range, and
// a file shorter than announced.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { spawn } from "node:child_process";
import { SyncRangeReader } from "../../lib/http/sync-range-reader.ts";
import { MemoryByteSource } from "../../lib/formats/byte-source.ts";
import { ActionError } from "../../functions/_shared/errors.ts";
import { Storage, WHOLE_FILE_BYTES } from "../../functions/_shared/storage.ts";
import { startStack, upload, type Stack } from "./support/stack.ts";

const auth = { Authorization: `Basic ${Buffer.from("demo:demo").toString("base64")}` };

describe("lib/http: synchronous Range reads", function () {
  this.timeout(30_000);
  let stack: Stack;
  const data = randomBytes(200_000);

  before(async () => {
    stack = await startStack();
    await upload(stack.webdavUrl, "/r/data.bin", data);
  });
  after(async () => {
    await stack?.stop();
  });

  it("reads exact byte ranges, across blocks and at the end of the file", () => {
    const r = new SyncRangeReader(`${stack.webdavUrl}/r/data.bin`, { headers: auth, blockSize: 4096 });
    try {
      expect(r.size).to.equal(data.length);
      const buf = new Uint8Array(10_000);
      expect(r.read(buf, 0, 10_000, 4000)).to.equal(10_000);
      expect(Buffer.from(buf)).to.deep.equal(data.subarray(4000, 14_000));
      const tail = new Uint8Array(100);
      expect(r.read(tail, 0, 100, data.length - 40)).to.equal(40);
      expect(Buffer.from(tail.subarray(0, 40))).to.deep.equal(data.subarray(data.length - 40));
      expect(r.read(tail, 0, 10, data.length)).to.equal(0);
    } finally {
      r.close();
    }
  });

  it("serves repeated reads from its block cache", () => {
    const r = new SyncRangeReader(`${stack.webdavUrl}/r/data.bin`, { headers: auth, blockSize: 8192 });
    r.knownSize = data.length;
    try {
      const buf = new Uint8Array(100);
      r.read(buf, 0, 100, 50_000);
      const after = { ...r.stats };
      for (let i = 0; i < 20; i++) r.read(buf, 0, 100, 50_000 + i * 50);
      expect(r.stats).to.deep.equal(after);
      expect(after).to.deep.equal({ requests: 1, bytes: 8192 });
    } finally {
      r.close();
    }
  });

  it("a missing file and refused credentials give clear errors", () => {
    const missing = new SyncRangeReader(`${stack.webdavUrl}/r/nope.bin`, { headers: auth });
    expect(() => missing.size).to.throw(/nope\.bin: file not found/);
    missing.close();
    const denied = new SyncRangeReader(`${stack.webdavUrl}/r/data.bin`, {
      headers: { Authorization: `Basic ${Buffer.from("demo:wrong").toString("base64")}` },
    });
    expect(() => denied.size).to.throw(/access denied; check the storage credentials/);
    denied.close();
  });

  it("refuses a server that ignores Range instead of downloading the whole file", async () => {
    // In its own process: this thread blocks while the reader waits for an answer.
    const server = spawn(
      process.execPath,
      [
        "-e",
        `
      const data = Buffer.alloc(200000, 7);
      const s = require("node:http").createServer((req, res) => { res.writeHead(200, { "Content-Length": data.length }); res.end(req.method === "HEAD" ? undefined : data); });
      s.listen(0, "127.0.0.1", () => console.log("port " + s.address().port));`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    const port = await new Promise<number>((resolve) => server.stdout.on("data", (d) => resolve(Number(/port (\d+)/.exec(String(d))![1]))));
    const r = new SyncRangeReader(`http://127.0.0.1:${port}/x`, { timeoutMs: 5000 });
    try {
      expect(() => r.read(new Uint8Array(10), 0, 10, 0)).to.throw(/ignored the Range header/);
      expect(r.stats.bytes).to.equal(0);
    } finally {
      r.close();
      server.kill();
    }
  });

  it("readers take turns on one worker; a request that times out leaves the next reader unharmed", async () => {
    // A server that accepts and never answers, in its own process (this thread blocks while reading).
    const server = spawn(
      process.execPath,
      [
        "-e",
        `
      const s = require("node:http").createServer(() => {});
      s.listen(0, "127.0.0.1", () => console.log("port " + s.address().port));`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    const port = await new Promise<number>((resolve) => server.stdout.on("data", (d) => resolve(Number(/port (\d+)/.exec(String(d))![1]))));
    try {
      const stuck = new SyncRangeReader(`http://127.0.0.1:${port}/x`, { timeoutMs: 300 });
      stuck.knownSize = 1000;
      expect(() => stuck.read(new Uint8Array(10), 0, 10, 0)).to.throw(/timed out after 300 ms/);
      stuck.close();
      for (const at of [0, 150_000]) {
        const r = new SyncRangeReader(`${stack.webdavUrl}/r/data.bin`, { headers: auth, blockSize: 4096 });
        const buf = new Uint8Array(100);
        expect(r.read(buf, 0, 100, at)).to.equal(100);
        expect(Buffer.from(buf)).to.deep.equal(data.subarray(at, at + 100));
        r.close();
      }
    } finally {
      server.kill();
    }
  });

  it("a file shorter than announced is reported as truncated", () => {
    const r = new SyncRangeReader(`${stack.webdavUrl}/r/data.bin`, { headers: auth, blockSize: 4096 });
    r.knownSize = data.length + 10_000;
    try {
      expect(() => r.read(new Uint8Array(8000), 0, 8000, data.length - 10)).to.throw(/truncated|416|shorter/);
    } finally {
      r.close();
    }
  });

  describe("Storage.bytes: small files whole, large ones in ranges", () => {
    const params = () => ({ webdavUrl: stack.webdavUrl, dcacheUser: "demo", dcachePassword: "demo" });

    it("fetches a file up to WHOLE_FILE_BYTES with one GET and serves it from memory", async () => {
      const src = await new Storage(params()).bytes("/r/data.bin", data.length);
      expect(src).to.be.instanceOf(MemoryByteSource);
      const buf = new Uint8Array(data.length);
      expect(src.read(buf, 0, data.length, 0)).to.equal(data.length);
      expect(Buffer.from(buf)).to.deep.equal(data);
      expect(src.read(buf, 0, 10, data.length)).to.equal(0);
      expect(src.stats).to.deep.equal({ requests: 1, bytes: data.length });
    });

    it("reads a larger file in ranges", async () => {
      const big = randomBytes(WHOLE_FILE_BYTES + 1);
      await upload(stack.webdavUrl, "/r/big.bin", big);
      const src = await new Storage(params()).bytes("/r/big.bin", big.length);
      try {
        expect(src).to.be.instanceOf(SyncRangeReader);
        const buf = new Uint8Array(100);
        src.read(buf, 0, 100, big.length - 100);
        expect(Buffer.from(buf)).to.deep.equal(big.subarray(big.length - 100));
        expect(src.stats.bytes).to.be.below(big.length / 10);
      } finally {
        src.close();
      }
    });

    it("a file shorter than the size announced fails transiently, saying it changed", async () => {
      for (const size of [data.length + 10, 2 * data.length]) {
        const err = await new Storage(params()).bytes("/r/data.bin", size).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err, `announced ${size}`).to.be.instanceOf(ActionError);
        expect((err as ActionError).message).to.match(/announced \d+ bytes but .*changed while it was read/);
        expect((err as ActionError).status).to.equal(0);
      }
    });
  });
});
