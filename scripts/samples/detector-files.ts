// Sample detector files for tests and `npm run demo`.
// Real sample files for the function tests, made the way facilities make them: NeXus and
// EXDF-like HDF5 written by the HDF5 library (h5wasm), miniCBF and EDF written byte by byte.
import { writeFileSync } from "node:fs";

type H5 = typeof import("h5wasm/node");
let h5: Promise<H5> | undefined;

async function lib(): Promise<H5> {
  h5 ??= import("h5wasm/node").then(async (m) => {
    await m.ready;
    return m;
  });
  return h5;
}

export interface NexusSpec {
  entry?: string;
  title?: string;
  proposal?: string;
  run?: string;
  startTime?: string;
  endTime?: string;
  instrument?: string;
  sample?: string;
  users?: Array<{ name: string; email?: string; affiliation?: string }>;
  /** Frames × height × width of the NXdata signal (uint16), filled with a test pattern. */
  frames?: [number, number, number];
  secondEntry?: boolean;
}

export async function writeNexus(path: string, spec: NexusSpec = {}): Promise<void> {
  const m = await lib();
  const f = new m.File(path, "w");
  try {
    const entries = spec.secondEntry ? [spec.entry ?? "entry", "entry2"] : [spec.entry ?? "entry"];
    for (const name of entries) {
      const e = f.create_group(name);
      e.create_attribute("NX_class", "NXentry");
      e.create_dataset({ name: "title", data: spec.title ?? "Test scan" });
      e.create_dataset({ name: "definition", data: "NXmx" });
      if (spec.proposal) e.create_dataset({ name: "experiment_identifier", data: spec.proposal });
      if (spec.run) e.create_dataset({ name: "entry_identifier", data: spec.run });
      e.create_dataset({ name: "start_time", data: spec.startTime ?? "2026-11-28T10:00:00Z" });
      e.create_dataset({ name: "end_time", data: spec.endTime ?? "2026-11-28T10:05:00Z" });
      const inst = e.create_group("instrument");
      inst.create_attribute("NX_class", "NXinstrument");
      inst.create_dataset({ name: "name", data: spec.instrument ?? "TESTBEAM" });
      const det = inst.create_group("detector");
      det.create_attribute("NX_class", "NXdetector");
      const s = e.create_group("sample");
      s.create_attribute("NX_class", "NXsample");
      s.create_dataset({ name: "name", data: spec.sample ?? "lysozyme" });
      (spec.users ?? []).forEach((u, i) => {
        const g = e.create_group(`user_${i + 1}`);
        g.create_attribute("NX_class", "NXuser");
        g.create_dataset({ name: "name", data: u.name });
        if (u.email) g.create_dataset({ name: "email", data: u.email });
        if (u.affiliation) g.create_dataset({ name: "affiliation", data: u.affiliation });
      });
      if (spec.frames) {
        const [n, h, w] = spec.frames;
        const d = e.create_group("data");
        d.create_attribute("NX_class", "NXdata");
        d.create_attribute("signal", "data");
        const px = new Uint16Array(n * h * w);
        for (let k = 0; k < n; k++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px[(k * h + y) * w + x] = (x + y + k) % 256;
        d.create_dataset({ name: "data", data: px, shape: [n, h, w], dtype: "<H" });
      }
    }
  } finally {
    f.close();
  }
}

/** A European XFEL-style run file: METADATA/, INDEX/, INSTRUMENT/ (HDF5, no NXentry). */
export async function writeExdf(path: string): Promise<void> {
  const m = await lib();
  const f = new m.File(path, "w");
  try {
    const md = f.create_group("METADATA");
    md.create_dataset({ name: "creationDate", data: ["20261128T101500Z"] });
    md.create_dataset({ name: "dataFormatVersion", data: ["1.2"] });
    md.create_dataset({ name: "proposalNumber", data: new Uint32Array([2948]), shape: [1] });
    md.create_dataset({ name: "runNumber", data: new Uint32Array([348]), shape: [1] });
    md.create_dataset({ name: "sequenceNumber", data: new Uint32Array([2]), shape: [1] });
    const src = md.create_group("dataSources");
    src.create_dataset({ name: "dataSourceId", data: ["INSTRUMENT/SPB_DET_AGIPD1M-1/DET/4CH0:xtdf", "CONTROL/SA1_XTD2_XGM/XGM/DOOCS"] });
    f.create_group("INDEX");
    f.create_group("INSTRUMENT");
    f.create_group("CONTROL");
  } finally {
    f.close();
  }
}

/** byte_offset compression as CBF defines it (delta to the previous pixel: 1, 2 or 4 bytes). */
export function byteOffsetEncode(values: Int32Array): Buffer {
  const parts: number[] = [];
  let prev = 0;
  for (const v of values) {
    const d = v - prev;
    prev = v;
    if (d >= -127 && d <= 127) parts.push(d & 0xff);
    else if (d >= -32767 && d <= 32767) parts.push(0x80, d & 0xff, (d >> 8) & 0xff);
    else parts.push(0x80, 0x00, 0x80, d & 0xff, (d >> 8) & 0xff, (d >> 16) & 0xff, (d >>> 24) & 0xff);
  }
  return Buffer.from(parts);
}

export function cbfPixels(w: number, h: number): Int32Array {
  const v = new Int32Array(w * h);
  for (let i = 0; i < v.length; i++) v[i] = i % 17 === 0 ? -1 : (i * 37) % 70000;
  return v;
}

export function writeCbf(path: string, w = 64, h = 48): void {
  const data = byteOffsetEncode(cbfPixels(w, h));
  const header = [
    "###CBF: VERSION 1.5, CBFlib v0.7.8 - PILATUS detectors",
    "",
    "data_test_00001",
    "",
    '_array_data.header_convention "PILATUS_1.2"',
    "_array_data.header_contents",
    ";",
    "# Detector: PILATUS 6M, S/N 60-0100",
    "# 2026-11-28T10:15:00.000",
    "# Pixel_size 172e-6 m x 172e-6 m",
    "# Silicon sensor, thickness 0.000320 m",
    "# Exposure_time 0.0970000 s",
    "# Exposure_period 0.1000000 s",
    "# Wavelength 0.97950 A",
    "# Detector_distance 0.26400 m",
    "# Start_angle 12.5000 deg.",
    "# Angle_increment 0.1000 deg.",
    ";",
    "",
    "_array_data.data",
    ";",
    "--CIF-BINARY-FORMAT-SECTION--",
    "Content-Type: application/octet-stream;",
    '     conversions="x-CBF_BYTE_OFFSET"',
    "Content-Transfer-Encoding: BINARY",
    `X-Binary-Size: ${data.length}`,
    "X-Binary-ID: 1",
    'X-Binary-Element-Type: "signed 32-bit integer"',
    "X-Binary-Element-Byte-Order: LITTLE_ENDIAN",
    `X-Binary-Number-of-Elements: ${w * h}`,
    `X-Binary-Size-Fastest-Dimension: ${w}`,
    `X-Binary-Size-Second-Dimension: ${h}`,
    "X-Binary-Size-Padding: 4095",
    "",
    "",
  ].join("\r\n");
  const tail = Buffer.from("\r\n--CIF-BINARY-FORMAT-SECTION----\r\n;\r\n\r\n");
  writeFileSync(path, Buffer.concat([Buffer.from(header, "latin1"), Buffer.from([0x0c, 0x1a, 0x04, 0xd5]), data, tail]));
}

export function writeEdf(path: string, w = 40, h = 30): void {
  let text = `{\nHeaderID = EH:000001:000000:000000 ;\nImage = 1 ;\nByteOrder = LowByteFirst ;\nDataType = UnsignedShort ;\nDim_1 = ${w} ;\nDim_2 = ${h} ;\nSize = ${w * h * 2} ;\ncount_time = 0.5 ;\ntitle = edf test ;\n`;
  // The header block is padded with spaces to a multiple of 512 bytes, ending in "}\n".
  const total = Math.ceil((text.length + 2) / 512) * 512;
  text = `${text.padEnd(total - 2, " ")}}\n`;
  const px = Buffer.alloc(w * h * 2);
  for (let i = 0; i < w * h; i++) px.writeUInt16LE((i * 13) % 1000, i * 2);
  writeFileSync(path, Buffer.concat([Buffer.from(text, "latin1"), px]));
}
