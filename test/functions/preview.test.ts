// Previews of detector frames: contrast comes from the frame's own low and high percentiles, so a
// frame sitting on a large offset (a detector pedestal) is not one flat grey. Checked on the PNG
// bytes themselves, decoded here.
import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateSync } from "node:zlib";
import { FileByteSource } from "../../lib/formats/byte-source.ts";
import { loadH5wasm } from "../../lib/formats/hdf5-open.ts";
import { describe as describeFile } from "../../lib/formats/describe.ts";
import { cbfFrame, frameStats, hdf5Frame, kthSmallest, nexusFrameSignal, previewPixels } from "../../lib/formats/frame.ts";
import { encodeGreyPng } from "../../lib/formats/png.ts";
import { lib as loadWriter, writeNexusTree } from "./support/nexus-tree.ts";
import { cbfPixels, writeCbf } from "./support/samples.ts";

/** Pixels of an 8-bit greyscale PNG with one IDAT chunk and filter type 0 rows (what encodeGreyPng writes). */
function decodeGreyPng(png: Buffer): { width: number; height: number; pixels: Uint8Array } {
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  const idatLen = png.readUInt32BE(33);
  expect(png.subarray(37, 41).toString()).to.equal("IDAT");
  const raw = inflateSync(png.subarray(41, 41 + idatLen));
  const pixels = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    expect(raw[y * (width + 1)], "row filter").to.equal(0);
    pixels.set(raw.subarray(y * (width + 1) + 1, (y + 1) * (width + 1)), y * width);
  }
  return { width, height, pixels };
}

describe("previews: contrast from the frame's percentiles", () => {
  let dir: string;
  before(async function () {
    this.timeout(120_000);
    dir = mkdtempSync(join(tmpdir(), "preview-"));
    await Promise.all([loadWriter(), loadH5wasm()]);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("the percentiles are what a sorted copy holds there, also for runs of equal, sorted and reversed pixels", () => {
    const n = 5003;
    const frames: Record<string, (i: number) => number> = {
      spread: (i) => (i * 7919) % 10007,
      "mostly zero": (i) => (i % 17 === 0 ? i : 0),
      "three levels": (i) => (i * 31) % 3,
      sorted: (i) => i,
      reversed: (i) => n - i,
      constant: () => 42,
    };
    for (const [name, value] of Object.entries(frames)) {
      const values = Float64Array.from({ length: n }, (_, i) => value(i));
      const sorted = Array.from(values).sort((a, b) => a - b);
      for (const k of [0, Math.floor(n * 0.005), Math.floor(n / 2), Math.floor(n * 0.995), n - 1]) {
        expect(kthSmallest(Float64Array.from(values), k), `${name}, k = ${k}`).to.equal(sorted[k]);
      }
    }
  });

  it("frameStats' percentiles are what a sorted copy of the unmasked pixels holds, counted (integers below 2^16) or selected (the rest)", () => {
    const n = 4999;
    const frames: Record<string, (i: number) => number> = {
      "integer counts": (i) => (i * 7919) % 4093,
      "integer counts with masked pixels": (i) => (i % 13 === 0 ? -1 : i % 29 === 0 ? -2 : (i * 31) % 1000),
      "a pedestal of 900": (i) => 900 + ((i * 17) % 250),
      "counts spanning more than 2^16": (i) => (i === 7 ? 1_048_575 : (i * 7) % 300),
      "hot pixels above 2^16, more than 0.5 %": (i) => (i % 50 === 0 ? 100_000 + i : (i * 7) % 300),
      "counts all above 2^16, a narrow span": (i) => 70_000 + ((i * 13) % 500),
      "counts all above 2^16, a wide span": (i) => 70_000 + ((i * 7919) % 200_000),
      "counts and fractions below 2^16 together": (i) => (i % 3 ? (i * 7) % 300 : ((i * 7919) % 1000) / 7),
      "fractions after a few counts that hold the lowest values": (i) => (i < 3 ? i : 1 + ((i * 7919) % 4999) / 7),
      "counts with NaN and infinities": (i) =>
        i % 97 === 0 ? Number.NaN : i % 89 === 0 ? Number.POSITIVE_INFINITY : i % 83 === 0 ? Number.NEGATIVE_INFINITY : (i * 7) % 300,
      "fractional values": (i) => ((i * 7919) % 1000) / 7,
      "fractional values and a hot pixel": (i) => (i === 11 ? 1e9 : ((i * 7919) % 1000) / 3),
      "distinct values, nearly all in one bucket": (i) => (i % 500 === 0 ? 1e6 : ((i * 7919) % 4999) / 10_000),
      "a range narrower than buckets": (i) => (i % 2 ? 5e-324 : 0),
      constant: () => 42,
      "only masked and one pixel": (i) => (i === 3 ? 5 : -1),
    };
    for (const [name, value] of Object.entries(frames)) {
      const values = Float64Array.from({ length: n }, (_, i) => value(i));
      const finite = Array.from(values).filter((v) => Number.isFinite(v));
      const sorted = finite.filter((v) => v >= 0).sort((a, b) => a - b);
      const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))];
      const stats = frameStats({ width: n, height: 1, values, origin: "test", stride: 1 });
      expect([stats.p005, stats.p995], name).to.deep.equal([at(0.005), at(0.995)]);
      expect(stats.masked, name).to.equal(finite.length - sorted.length);
      expect([stats.min, stats.max, stats.sum], name).to.deep.equal([
        Math.min(...finite),
        Math.max(...finite),
        finite.reduce((a, b) => a + b, 0),
      ]);
      expect(stats.nonZero, name).to.equal(finite.filter((v) => v !== 0).length);
    }
  });

  it("a frame with a large offset (892 … 1141) spans the grey scale", async () => {
    const [h, w] = [80, 100];
    const value = (_k: number, y: number, x: number) => 892 + ((x * 7 + y * 3) % 250);
    const p = join(dir, "offset.nxs");
    await writeNexusTree(p, {
      entry: {
        nx: "NXentry",
        groups: { data: { nx: "NXdata", attrs: { signal: "data" }, frames: { data: { shape: [2, h, w], value } } } },
      },
    });
    const written = Array.from({ length: h * w }, (_, i) => value(0, Math.floor(i / w), i % w));
    expect(Math.min(...written)).to.equal(892);
    expect(Math.max(...written)).to.equal(1141);

    const src = new FileByteSource(p);
    try {
      const d = await describeFile(src, p);
      const signal = nexusFrameSignal(d.nexus!.entries);
      expect(signal).to.deep.equal({ path: "/entry/data/data" });
      const frame = await hdf5Frame(src, p, (signal as { path: string }).path);
      const stats = frameStats(frame);
      const sorted = [...written].sort((a, b) => a - b);
      expect(stats).to.include({
        min: 892,
        max: 1141,
        p005: sorted[Math.floor(sorted.length * 0.005)],
        p995: sorted[Math.floor(sorted.length * 0.995)],
      });
      const png = decodeGreyPng(encodeGreyPng(previewPixels(frame, stats), frame.width, frame.height));
      expect([png.width, png.height]).to.deep.equal([w, h]);
      const px = Array.from(png.pixels);
      expect(Math.min(...px)).to.be.at.most(5);
      expect(Math.max(...px)).to.be.at.least(250);
      expect(new Set(px).size, "distinct grey levels").to.be.above(200);
      // brighter counts stay brighter: the order of the values survives the scaling
      const i892 = written.indexOf(892);
      const i1141 = written.indexOf(1141);
      expect(px[i892]).to.equal(0);
      expect(px[i1141]).to.equal(255);
    } finally {
      src.close();
    }
  });

  it("reads a frame's pixels as the numbers written, for 64-bit integers, floats and narrow integers alike", async () => {
    const m = await loadWriter();
    const [h, w] = [3, 4];
    const pixel = (i: number) => (i % 2 ? -1 : 1) * (i * 1000 + 7);
    const cases: Array<[string, ArrayLike<number | bigint>, number[]]> = [
      ["<q", BigInt64Array.from({ length: h * w }, (_, i) => BigInt(pixel(i))), Array.from({ length: h * w }, (_, i) => pixel(i))],
      ["<d", Float64Array.from({ length: h * w }, (_, i) => pixel(i) / 8), Array.from({ length: h * w }, (_, i) => pixel(i) / 8)],
      ["<f", Float32Array.from({ length: h * w }, (_, i) => i + 0.25), Array.from({ length: h * w }, (_, i) => i + 0.25)],
      ["<B", Uint8Array.from({ length: h * w }, (_, i) => 255 - i), Array.from({ length: h * w }, (_, i) => 255 - i)],
      ["<i", Int32Array.from({ length: h * w }, (_, i) => pixel(i)), Array.from({ length: h * w }, (_, i) => pixel(i))],
    ];
    for (const [dtype, data, expected] of cases) {
      const p = join(dir, `frame-${dtype.slice(1)}.h5`);
      const f = new m.File(p, "w");
      f.create_dataset({ name: "frame", data: data as never, shape: [h, w], dtype });
      f.close();
      const src = new FileByteSource(p);
      try {
        const frame = await hdf5Frame(src, p, "/frame");
        expect([frame.width, frame.height], dtype).to.deep.equal([w, h]);
        expect(Array.from(frame.values), dtype).to.deep.equal(expected);
      } finally {
        src.close();
      }
    }
  });

  it("masked (negative) Pilatus pixels stay black; the rest spans the scale", async () => {
    const p = join(dir, "masked.cbf");
    writeCbf(p, 64, 48);
    const src = new FileByteSource(p);
    try {
      const d = await describeFile(src, p);
      const frame = cbfFrame(src, d.cbf!);
      const px = previewPixels(frame, frameStats(frame));
      const values = cbfPixels(64, 48);
      const masked = [...values.keys()].filter((i) => values[i]! < 0);
      expect(masked.length).to.be.above(0);
      expect(masked.every((i) => px[i] === 0)).to.equal(true);
      expect(Math.max(...px)).to.equal(255);
    } finally {
      src.close();
    }
  });

  it("a flat frame does not divide by zero", () => {
    const values = new Float64Array(16).fill(1000);
    const px = previewPixels(
      { width: 4, height: 4, values, origin: "test", stride: 1 },
      frameStats({ width: 4, height: 4, values, origin: "test", stride: 1 }),
    );
    expect(Array.from(px).every((v) => Number.isInteger(v) && v >= 0 && v <= 255)).to.equal(true);
  });
});
