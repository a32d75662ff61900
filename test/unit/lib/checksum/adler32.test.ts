import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { Adler32, adler32Hex, adler32OfStream } from "../../../../lib/checksum/adler32.ts";

// zlib's adler32, through python3, is the independent reference.
function zlibAdler32(data: Buffer): string {
  const out = execFileSync("python3", ["-c", "import sys,zlib;print('%08x' % zlib.adler32(sys.stdin.buffer.read()))"], { input: data });
  return out.toString().trim();
}

describe("lib/checksum/adler32", () => {
  it("gives 00000001 for empty input", () => {
    expect(adler32Hex(new Uint8Array())).to.equal("00000001");
  });

  it("matches the RFC 1950 example of 'Wikipedia'", () => {
    expect(adler32Hex(Buffer.from("Wikipedia"))).to.equal("11e60398");
  });

  it("matches zlib for random data of awkward sizes, fed whole and in chunks", () => {
    for (const size of [1, 5551, 5552, 5553, 65536 + 7, 1_000_003]) {
      const data = randomBytes(size);
      const want = zlibAdler32(data);
      expect(adler32Hex(data), `size ${size}`).to.equal(want);
      const sum = new Adler32();
      for (let i = 0; i < size; i += 4093) sum.update(data.subarray(i, i + 4093));
      expect(sum.hex(), `chunked size ${size}`).to.equal(want);
    }
  });

  it("matches zlib on all-0xff data, where the sums grow fastest", () => {
    const data = Buffer.alloc(3_000_000, 0xff);
    expect(adler32Hex(data)).to.equal(zlibAdler32(data));
  });

  it("hashes a stream and counts its bytes", async () => {
    const data = randomBytes(200_000);
    const got = await adler32OfStream(Readable.from([data.subarray(0, 1000), data.subarray(1000)]));
    expect(got).to.deep.equal({ hex: zlibAdler32(data), bytes: data.length });
  });
});
