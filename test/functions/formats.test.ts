// Format detection and metadata extraction (lib/formats) on the real facility files and on files
// generated here, read through a ByteSource that counts what it reads.
import { expect } from "chai";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync, truncateSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateSync } from "node:zlib";
import { FileByteSource } from "../../lib/formats/byte-source.ts";
import { decodeByteOffset, parseCbfHeader } from "../../lib/formats/cbf.ts";
import { describe as describeFile } from "../../lib/formats/describe.ts";
import { parseEdfHeader } from "../../lib/formats/edf.ts";
import { cbfFrame, edfFrame, frameStats, hdf5Frame } from "../../lib/formats/frame.ts";
import { encodeGreyPng } from "../../lib/formats/png.ts";
import { writeExdfWithImage } from "./support/exdf-image.ts";
import { byteOffsetEncode, cbfPixels, writeCbf, writeEdf, writeNexus } from "./support/samples.ts";

const NEXUS = join(import.meta.dirname, "../data/nexus");
const real = (name: string) => join(NEXUS, name);

async function describeLocal(path: string) {
  const src = new FileByteSource(path);
  try {
    return { d: await describeFile(src, path), read: src.stats.bytes, size: src.size };
  } finally {
    src.close();
  }
}

describe("lib/formats: metadata of real facility files", () => {
  it("DLS I16 (entry1, GDA): title, identifiers, instrument, sample", async () => {
    const { d } = await describeLocal(real("DLS_i16_hdf5_538039.nxs"));
    expect(d.format).to.equal("nexus");
    const e = d.nexus!.entries[0]!;
    expect(e.name).to.equal("entry1");
    expect(e.title).to.equal("Scan of sample with GDA");
    expect(e.program_name).to.match(/^GDA/);
    expect(e.instrument?.name).to.equal("i16");
    expect(e.sample?.name).to.equal("Default Sample");
  });

  it("SLS FOCUS: finds the superblock after the 32 KiB user block", async () => {
    const { d } = await describeLocal(real("SLS_Focus_2021-03-16_051.hdf5"));
    expect(d.format).to.equal("nexus");
    expect(d.nexus!.entries[0]!.name).to.equal("entry1");
    expect(d.nexus!.entries[0]!.start_time).to.equal("2021-03-16T12:42:07+01:00");
  });

  it("IPNS LRMECS: both NXentry groups, run_number as entry_identifier", async () => {
    const { d } = await describeLocal(real("IPNS_LRMECS_hdf5_lrcs3701.nx5"));
    expect(d.nexus!.entries.map((e) => e.name)).to.deep.equal(["Histogram1", "Histogram2"]);
    expect(d.nexus!.entries[0]!.entry_identifier).to.equal("3701");
    expect(d.nexus!.entries[0]!.instrument?.name).to.equal("LRMECS");
  });

  it("APS area detector: the 2D frame, the user, no start_time", async () => {
    const { d, read, size } = await describeLocal(real("APS_EPICSareaDetector_hdf5_AgBehenate_228.hdf5"));
    const e = d.nexus!.entries[0]!;
    expect(e.data[0]).to.deep.equal({ path: "/entry/data/data", shape: [195, 487], dtype: "<i4" });
    expect(e.users[0]!.name).to.equal("Dale Schaefer");
    expect(e.start_time).to.equal(undefined);
    // Only what HDF5 asks for: the frame itself (380 KB) is never read.
    expect(read).to.be.below(size / 4);
  });

  it("DLS NXmx: definition and times", async () => {
    const { d } = await describeLocal(real("DLS_i03_i04_NXmx_hdf5_Therm_6_2.nxs"));
    expect(d.nexus!.entries[0]!.definition).to.equal("NXmx");
    expect(d.nexus!.entries[0]!.start_time).to.equal("2019-02-14T14:25:57");
  });
});

describe("lib/formats: generated files", () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), "formats-"))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("NeXus written by h5wasm: users, proposal, run, NXdata signal", async () => {
    const p = join(dir, "run.nxs");
    await writeNexus(p, {
      title: "Lysozyme",
      proposal: "20261234",
      run: "42",
      users: [{ name: "Ada Lovelace", email: "ada@example.org" }],
      frames: [3, 20, 30],
    });
    const { d } = await describeLocal(p);
    const e = d.nexus!.entries[0]!;
    expect(e).to.include({ title: "Lysozyme", experiment_identifier: "20261234", entry_identifier: "42", definition: "NXmx" });
    expect(e.users).to.deep.equal([{ name: "Ada Lovelace", email: "ada@example.org" }]);
    expect(e.data[0]).to.deep.equal({ path: "/entry/data/data", shape: [3, 20, 30], dtype: "<u2" });
  });

  it("EXDF-like run file: METADATA fields and data sources", async () => {
    const p = join(dir, "RAW-R0348-AGIPD04-S00002.h5");
    await writeExdfWithImage(p);
    const { d } = await describeLocal(p);
    expect(d.format).to.equal("exdf");
    expect(d.exdf).to.include({ proposalNumber: 2948, runNumber: 348, sequenceNumber: 2, dataFormatVersion: "1.2" });
    expect(d.exdf!.dataSources).to.have.length(2);
    expect(d.exdf!.images).to.deep.equal([
      { path: "/INSTRUMENT/SPB_DET_AGIPD1M-1/DET/4CH0:xtdf/image/data", shape: [3, 32, 16], dtype: "<u2" },
    ]);
  });

  it("miniCBF: header fields, binary section; the frame decodes to the written pixels", async () => {
    const p = join(dir, "x_00001.cbf");
    writeCbf(p, 64, 48);
    const src = new FileByteSource(p);
    const d = await describeFile(src, p);
    expect(d.format).to.equal("cbf");
    expect(d.cbf).to.include({
      detector: "PILATUS 6M, S/N 60-0100",
      exposureTime: 0.097,
      wavelength: 0.9795,
      detectorDistance: 0.264,
      startAngle: 12.5,
      angleIncrement: 0.1,
    });
    expect(d.cbf!.pixelSize).to.deep.equal([0.000172, 0.000172]);
    expect(d.cbf!.binary).to.include({ conversions: "x-CBF_BYTE_OFFSET" });
    const frame = cbfFrame(src, d.cbf!);
    expect(Array.from(frame.values)).to.deep.equal(Array.from(cbfPixels(64, 48)));
    expect(frameStats(frame).masked).to.be.above(0);
    src.close();
  });

  it("byte_offset: 1-, 2- and 4-byte deltas round-trip", () => {
    const v = Int32Array.from([0, 5, -3, 200, -200, 40000, -70000, 2_000_000_000, 7]);
    expect(Array.from(decodeByteOffset(byteOffsetEncode(v), v.length))).to.deep.equal(Array.from(v));
    expect(() => decodeByteOffset(byteOffsetEncode(v).subarray(0, 4), v.length)).to.throw(/truncated/);
  });

  it("EDF: header keys, data offset on the 512-byte boundary, the frame", async () => {
    const p = join(dir, "img.edf");
    writeEdf(p, 40, 30);
    const src = new FileByteSource(p);
    const d = await describeFile(src, p);
    expect(d.format).to.equal("edf");
    expect(d.edf).to.include({ headerBytes: 512, dataType: "UnsignedShort", byteOrder: "LowByteFirst", size: 2400 });
    expect(d.edf!.dimensions).to.deep.equal([40, 30]);
    const f = edfFrame(src, d.edf!);
    expect(f.values[1]).to.equal(13);
    src.close();
    expect(() => parseEdfHeader(Buffer.from("{ HeaderID = x ; Dim_1 = 4 "))).to.throw(/closing/);
  });

  it("unknown formats: size and content type only", async () => {
    const p = join(dir, "notes.txt");
    writeFileSync(p, "just text\n");
    const { d } = await describeLocal(p);
    expect(d).to.deep.equal({ format: "unknown", contentType: "text/plain", size: 10 });
  });

  it("corrupt HDF5: a clear error, and HDF5's diagnostics stay off stderr", async () => {
    const p = join(dir, "bad.h5");
    const good = join(dir, "good.nxs");
    await writeNexus(good);
    const bytes = readFileSync(good);
    bytes.fill(0x5a, 8, 200);
    writeFileSync(p, bytes);
    const original = process.stderr.write.bind(process.stderr);
    let printed = "";
    process.stderr.write = ((chunk: string | Uint8Array) => {
      printed += String(chunk);
      return true;
    }) as typeof process.stderr.write;
    try {
      await describeLocal(p).then(
        () => expect.fail("a corrupt file must not be described"),
        (e: Error) => expect(e.message).to.match(/bad\.h5 is not a readable HDF5 file/),
      );
    } finally {
      process.stderr.write = original;
    }
    expect(printed).to.not.match(/HDF5-DIAG|H5F/);
  });

  it("truncated HDF5: a clear error", async () => {
    const p = join(dir, "cut.nxs");
    await writeNexus(p, { frames: [2, 64, 64] });
    copyFileSync(p, `${p}.full`);
    truncateSync(p, Math.floor(statSync(p).size / 3));
    await describeLocal(p).then(
      () => expect.fail("a truncated file must not be described"),
      (e: Error) => expect(e.message).to.match(/cut\.nxs is not a readable HDF5 file/),
    );
  });

  it("reads one frame of a 3D NXdata signal from HDF5", async () => {
    const p = join(dir, "frames.nxs");
    await writeNexus(p, { frames: [4, 10, 12] });
    const src = new FileByteSource(p);
    const f = await hdf5Frame(src, p, "/entry/data/data");
    src.close();
    expect([f.width, f.height]).to.deep.equal([12, 10]);
    expect(f.values[0]).to.equal(0);
    expect(f.values[12 + 3]).to.equal(1 + 3);
  });
});

describe("lib/formats: PNG writer", () => {
  it("writes a valid greyscale PNG (signature, IHDR, inflatable IDAT rows)", () => {
    const px = Uint8Array.from({ length: 6 }, (_, i) => i * 40);
    const png = encodeGreyPng(px, 3, 2);
    expect(png.subarray(0, 8)).to.deep.equal(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(png.readUInt32BE(16)).to.equal(3);
    expect(png.readUInt32BE(20)).to.equal(2);
    const idatLen = png.readUInt32BE(33);
    expect(png.subarray(37, 41).toString()).to.equal("IDAT");
    const raw = inflateSync(png.subarray(41, 41 + idatLen));
    expect(Array.from(raw)).to.deep.equal([0, 0, 40, 80, 0, 120, 160, 200]);
    expect(png.subarray(png.length - 8, png.length - 4).toString()).to.equal("IEND");
  });
});

describe("lib/formats: CBF header parsing", () => {
  it("tolerates a header without binary section", () => {
    const h = parseCbfHeader(Buffer.from("###CBF: VERSION 1.5\r\n# Detector: EIGER2 16M\r\n# Wavelength 1.0 A\r\n"));
    expect(h).to.include({ detector: "EIGER2 16M", wavelength: 1 });
    expect(h.binary).to.equal(undefined);
  });
});
