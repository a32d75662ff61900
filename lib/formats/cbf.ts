// miniCBF (Pilatus/Eiger) header: the "# Key value" lines of the CIF text part and the MIME header
// of the binary section. Only the header bytes are read, never the image.
export interface CbfHeader {
  detector?: string;
  date?: string;
  /** Pixel size in metres, [x, y]. */
  pixelSize?: number[];
  exposureTime?: number;
  exposurePeriod?: number;
  wavelength?: number;
  detectorDistance?: number;
  startAngle?: number;
  angleIncrement?: number;
  /** Every "# Key value" header line, keyed by its first word. */
  fields: Record<string, string>;
  binary?: {
    /** Fastest dimension first, as CBF gives it: [width, height]. */
    dimensions: number[];
    elementType?: string;
    conversions?: string;
    size?: number;
    /** Byte offset of the compressed data (after the 0C 1A 04 D5 marker). */
    dataOffset?: number;
  };
}

/** Bytes of a CBF file that hold its header comfortably (Pilatus headers are ~1-4 KiB). */
export const CBF_HEADER_BYTES = 64 * 1024;

const MARKER = [0x0c, 0x1a, 0x04, 0xd5];

export function looksLikeCbf(head: Uint8Array): boolean {
  const s = new TextDecoder("latin1").decode(head.subarray(0, 2048));
  return s.startsWith("###CBF") || (s.includes("_array_data.data") && s.includes("CIF-BINARY-FORMAT-SECTION"));
}

function num(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const n = Number.parseFloat(s);
  return Number.isFinite(n) ? n : undefined;
}

function markerAt(head: Uint8Array): number {
  for (let i = 0; i + 3 < head.length; i++) {
    if (head[i] === MARKER[0] && head[i + 1] === MARKER[1] && head[i + 2] === MARKER[2] && head[i + 3] === MARKER[3]) return i;
  }
  return -1;
}

export function parseCbfHeader(head: Uint8Array): CbfHeader {
  const marker = markerAt(head);
  const text = new TextDecoder("latin1").decode(marker >= 0 ? head.subarray(0, marker) : head);
  const out: CbfHeader = { fields: {} };
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line.startsWith("# ")) continue;
    const body = line.slice(2).trim();
    const m = /^([A-Za-z][A-Za-z0-9_]*):?\s*(.*)$/.exec(body);
    // The timestamp line is a bare date ("# 2021-03-01T10:00:00.000").
    if (/^\d{4}[-/]\d{2}[-/]\d{2}/.test(body)) {
      out.date = body;
      continue;
    }
    if (!m) continue;
    const [, key, value] = m as unknown as [string, string, string];
    out.fields[key] = value.trim();
  }
  const f = out.fields;
  if (f.Detector) out.detector = f.Detector.replace(/^:\s*/, "");
  const px = f.Pixel_size ? [...f.Pixel_size.matchAll(/([-+\d.eE]+)\s*m/g)].map((x) => Number(x[1])) : [];
  if (px.length) out.pixelSize = px;
  const set = (
    k: "exposureTime" | "exposurePeriod" | "wavelength" | "detectorDistance" | "startAngle" | "angleIncrement",
    v: string | undefined,
  ) => {
    const n = num(v);
    if (n !== undefined) out[k] = n;
  };
  set("exposureTime", f.Exposure_time);
  set("exposurePeriod", f.Exposure_period);
  set("wavelength", f.Wavelength);
  set("detectorDistance", f.Detector_distance);
  set("startAngle", f.Start_angle);
  set("angleIncrement", f.Angle_increment);
  const mime = (name: string) => new RegExp(`^${name}:\\s*(.+?)\\s*$`, "mi").exec(text)?.[1];
  const fast = num(mime("X-Binary-Size-Fastest-Dimension"));
  const second = num(mime("X-Binary-Size-Second-Dimension"));
  if (fast !== undefined && second !== undefined) {
    out.binary = { dimensions: [fast, second] };
    const et = mime("X-Binary-Element-Type")?.replace(/"/g, "");
    if (et) out.binary.elementType = et;
    // The Content-Type header continues on an indented line: search the MIME header as a whole.
    const conv = /conversions\s*=\s*"?([^";\s]+)"?/i.exec(text.slice(text.indexOf("--CIF-BINARY-FORMAT-SECTION--")))?.[1];
    if (conv) out.binary.conversions = conv;
    const size = num(mime("X-Binary-Size"));
    if (size !== undefined) out.binary.size = size;
    if (marker >= 0) out.binary.dataOffset = marker + 4;
  }
  return out;
}

/** Decodes CBF "byte_offset" compressed integers (deltas of 1, 2 or 4 bytes, little endian). */
export function decodeByteOffset(data: Uint8Array, count: number): Int32Array {
  const out = new Int32Array(count);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let value = 0;
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p >= data.length) throw new Error(`CBF data ends after ${i} of ${count} pixels (file truncated?)`);
    let d = view.getInt8(p);
    p += 1;
    if (d === -128) {
      if (p + 2 > data.length) throw new Error(`CBF data ends after ${i} of ${count} pixels (file truncated?)`);
      d = view.getInt16(p, true);
      p += 2;
      if (d === -32768) {
        if (p + 4 > data.length) throw new Error(`CBF data ends after ${i} of ${count} pixels (file truncated?)`);
        d = view.getInt32(p, true);
        p += 4;
      }
    }
    value += d;
    out[i] = value;
  }
  return out;
}
