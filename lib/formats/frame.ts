// A 2D detector frame as numbers, read from NeXus/HDF5 (one frame of the signal dataset, strided
// so that big detectors stay cheap), miniCBF (byte_offset) or EDF, and its preview and statistics.
import type { ByteSource } from "./byte-source.ts";
import { decodeByteOffset, type CbfHeader } from "./cbf.ts";
import { edfPixelType, type EdfHeader } from "./edf.ts";
import { openHdf5, withQuietHdf5, type OpenedHdf5 } from "./hdf5-open.ts";
import { describeDataset, isDataset } from "./hdf5-values.ts";
import type { NexusEntry } from "./nexus.ts";

export interface Frame {
  width: number;
  height: number;
  /** Row-major values, length width × height. */
  values: Float64Array;
  /** Where it came from: dataset path and index, or the image section. */
  origin: string;
  /** Source pixels per frame pixel along each axis (> 1 when strided). */
  stride: number;
}

/** Largest preview side: bigger frames are read with a stride. */
export const MAX_SIDE = 1024;

function readExactly(src: ByteSource, offset: number, length: number): Uint8Array {
  const buf = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const n = src.read(buf, got, length - got, offset + got);
    if (n <= 0) throw new Error(`file ends at ${offset + got} bytes, ${length - got} bytes short of the image (truncated?)`);
    got += n;
  }
  return buf;
}

export async function hdf5Frame(src: ByteSource, label: string, datasetPath: string): Promise<Frame> {
  const h5 = await openHdf5(src, label);
  try {
    return frameOfOpenHdf5(h5, datasetPath);
  } finally {
    h5.close();
  }
}

/** The first frame of `datasetPath` in an HDF5 file already open (the caller closes it). */
export function frameOfOpenHdf5(h5: OpenedHdf5, datasetPath: string): Frame {
  const got = withQuietHdf5(() => {
    const ds = h5.file.get(datasetPath);
    if (!isDataset(ds)) throw new Error(`${datasetPath} is not a dataset`);
    const { shape, dtype } = describeDataset(ds);
    if (shape.length < 2) throw new Error(`${datasetPath} has ${shape.length} dimension(s); a frame needs 2`);
    if (!/^[<>][iuf]/.test(dtype)) throw new Error(`${datasetPath} holds ${dtype}, not numbers`);
    const h = shape[shape.length - 2]!;
    const w = shape[shape.length - 1]!;
    const stride = Math.max(1, Math.ceil(Math.max(h, w) / MAX_SIDE));
    // The first frame of any leading (scan/time) dimensions.
    const ranges: Array<[number, number] | [number, number, number]> = shape.slice(0, -2).map(() => [0, 1] as [number, number]);
    ranges.push([0, h, stride], [0, w, stride]);
    const data = ds.slice(ranges as never) as ArrayLike<number | bigint>;
    const height = Math.ceil(h / stride);
    const width = Math.ceil(w / stride);
    const values = new Float64Array(width * height);
    // 64-bit integers come as BigInts, converted one by one; other numbers in one native copy (in a
    // container's first run, before the loop is optimised: ~0.7 instead of ~4 ms for 487 × 195 pixels)
    if (typeof data[0] === "bigint") for (let i = 0; i < values.length; i++) values[i] = Number(data[i]);
    else values.set(data as ArrayLike<number>);
    return {
      width,
      height,
      values,
      origin: `${datasetPath}[${shape
        .slice(0, -2)
        .map(() => "0")
        .concat(":", ":")
        .join(",")}]`,
      stride,
    };
  });
  if (got.error !== undefined)
    throw got.error instanceof Error ? got.error : new Error(`cannot read ${datasetPath}: ${got.diagnostics.slice(-1)[0] ?? "HDF5 error"}`);
  return got.value!;
}

export function cbfFrame(src: ByteSource, header: CbfHeader): Frame {
  const b = header.binary;
  if (!b || b.dataOffset === undefined) throw new Error("the CBF header has no binary section (X-Binary-Size-Fastest-Dimension…)");
  if (b.conversions && b.conversions !== "x-CBF_BYTE_OFFSET")
    throw new Error(`CBF compression ${b.conversions} is not supported (only x-CBF_BYTE_OFFSET)`);
  const [w, h] = b.dimensions as [number, number];
  // byte_offset needs at most 7 bytes per pixel; X-Binary-Size says exactly how many there are.
  const size = b.size ?? Math.min(src.size - b.dataOffset, w * h * 7);
  const values = Float64Array.from(decodeByteOffset(readExactly(src, b.dataOffset, size), w * h));
  return { width: w, height: h, values, origin: "CBF binary section", stride: 1 };
}

export function edfFrame(src: ByteSource, header: EdfHeader): Frame {
  const [w, h] = header.dimensions as [number, number];
  if (!w || !h) throw new Error("the EDF header lacks Dim_1/Dim_2");
  const t = edfPixelType(header.dataType);
  if (!t) throw new Error(`EDF DataType ${header.dataType ?? "(missing)"} is not supported`);
  const bytes = readExactly(src, header.headerBytes, w * h * t.bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = (header.byteOrder ?? "LowByteFirst") !== "HighByteFirst";
  const values = new Float64Array(w * h);
  for (let i = 0; i < values.length; i++) values[i] = t.read(view, i * t.bytes, le);
  return { width: w, height: h, values, origin: "EDF image 1", stride: 1 };
}

export interface FrameStats {
  min: number;
  max: number;
  mean: number;
  sum: number;
  nonZero: number;
  /** Pixels below zero: detector masks (gaps, dead pixels) in Pilatus/Eiger images. */
  masked: number;
  /** 0.5th and 99.5th percentiles of the unmasked pixels: the preview's black and white points. */
  p005: number;
  p995: number;
}

/**
 * The k-th smallest value of `a` (0-based: what a sorted copy holds at k), in linear expected time
 * (quickselect, median-of-three pivot, three-way partition so that runs of equal pixels stay cheap).
 * Reorders `a`.
 */
export function kthSmallest(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const x = a[lo]!,
      y = a[(lo + hi) >>> 1]!,
      z = a[hi]!;
    const pivot = x < y ? (y < z ? y : Math.max(x, z)) : x < z ? x : Math.max(y, z);
    // [lo, lt) < pivot, [lt, i) = pivot, (gt, hi] > pivot
    let lt = lo,
      i = lo,
      gt = hi;
    while (i <= gt) {
      const v = a[i]!;
      if (v < pivot) {
        a[i++] = a[lt]!;
        a[lt++] = v;
      } else if (v > pivot) {
        a[i] = a[gt]!;
        a[gt--] = v;
      } else i++;
    }
    if (k < lt) hi = lt - 1;
    else if (k > gt) lo = gt + 1;
    else return pivot;
  }
  return a[k]!;
}

/**
 * Integer pixels below this are counted per value, in frameStats' own pass: their percentiles come
 * from walking the counts, where selection reorders the pixels several times (frameStats, warm, with
 * its loop indexed: 128 × 128 pixels ~1.1 → ~0.4 ms, 1024 × 1024 ~40 → ~13 ms). Most detectors
 * count photons in 16 bits or less.
 */
const HISTOGRAM_MAX_VALUES = 1 << 16;

/**
 * The values at sorted positions `ks` (ascending, 0-based) of `a`, integers all within
 * [lo, lo + span): counted per value, then found by walking the counts.
 */
function kthSmallestOfIntegers(a: Float64Array, lo: number, span: number, ks: number[]): number[] {
  const counts = new Uint32Array(span);
  for (let i = 0; i < a.length; i++) counts[a[i]! - lo]!++;
  const out: number[] = [];
  let below = 0;
  let v = 0;
  for (const k of ks) {
    while (below + counts[v]! <= k) below += counts[v++]!;
    out.push(lo + v);
  }
  return out;
}

/** Buckets of equal width that selectAmong counts the pixels into (256 KiB of counts). */
const BUCKETS = 1 << 16;

/**
 * The values at sorted positions `ks` (ascending, 0-based) of `a`, all within [lo, hi]: the pixels
 * are counted into buckets of equal width, and only those of the buckets holding the `ks` are
 * selected among. Two linear passes and a selection over a few pixels, where selecting among all
 * of them reorders the whole frame several times. frameStats of 1024 × 1024 floats with hot
 * pixels: first call 110–160 → 45–77 ms. Pixels crowded into one bucket (a flat frame with a few
 * hot pixels) are selected among as before.
 */
function selectAmong(a: Float64Array, lo: number, hi: number, ks: number[]): number[] {
  if (hi <= lo) return ks.map(() => lo);
  const scale = BUCKETS / (hi - lo);
  // a range narrower than buckets can be told apart in doubles
  if (!(scale < Infinity)) return ks.map((k) => kthSmallest(a, k));
  // v's bucket: (v - lo) * scale, in [0, BUCKETS], truncated (the floor: it is not negative), the
  // top value in the last bucket. Monotonic in v (rounding is), so every value of a bucket is ≥
  // every value of the one before. Written out in both loops rather than called: frameStats, warm,
  // 1024 × 1024 floats ~32 → ~23 ms, the APS frame ~2.8 → ~2.2 ms.
  const last = BUCKETS - 1;
  const counts = new Uint32Array(BUCKETS);
  for (let i = 0; i < a.length; i++) {
    const k = ((a[i]! - lo) * scale) | 0;
    counts[Math.min(k, last)]!++;
  }
  // the bucket and the rank within it of each k
  const at: Array<{ bucket: number; rank: number }> = [];
  let below = 0;
  let b = 0;
  for (const k of ks) {
    while (below + counts[b]! <= k) below += counts[b++]!;
    at.push({ bucket: b, rank: k - below });
  }
  // the pixels of those buckets, each bucket's in an array of its own (slot: its index + 1)
  const slot = new Uint8Array(BUCKETS);
  const chosen: Float64Array[] = [];
  for (const { bucket } of at) if (!slot[bucket]) slot[bucket] = chosen.push(new Float64Array(counts[bucket]!));
  const filled = new Uint32Array(chosen.length);
  for (let i = 0; i < a.length; i++) {
    const k = ((a[i]! - lo) * scale) | 0;
    const s = slot[Math.min(k, last)]!;
    if (s) chosen[s - 1]![filled[s - 1]!++] = a[i]!;
  }
  return at.map(({ bucket, rank }) => kthSmallest(chosen[slot[bucket]! - 1]!, rank));
}

/** Writes the values `counts` (per value) holds into `out` from `at` on, ascending; returns where they end. */
function spill(counts: Uint32Array, out: Float64Array, at: number): number {
  for (let v = 0; v < counts.length; v++) {
    const c = counts[v]!;
    if (c === 0) continue;
    out.fill(v, at, at + c);
    at += c;
  }
  return at;
}

/**
 * The values at sorted positions `ks` (ascending, 0-based) of the unmasked pixels, when `small`
 * counts those that are integers below 2^16 per value (`smallCount` in all) and `rest` holds the
 * others, all at least 2^16 (`restLowest` … `max`): a k falls either among the counted values, found
 * by walking the counts, or at k − smallCount among the rest.
 */
function splitPercentiles(
  small: Uint32Array,
  smallCount: number,
  rest: Float64Array,
  restLowest: number,
  restIntegral: boolean,
  max: number,
  ks: number[],
): number[] {
  const out: number[] = [];
  const inRest: number[] = [];
  let below = 0;
  let v = 0;
  for (const k of ks) {
    if (k >= smallCount) {
      inRest.push(k - smallCount);
      continue;
    }
    while (below + small[v]! <= k) below += small[v++]!;
    out.push(v);
  }
  return inRest.length === 0 ? out : [...out, ...selectFrom(rest, restLowest, max, restIntegral, inRest)];
}

/** The values at sorted positions `ks` of `a` (all within [lo, hi]): counted when they are integers of a narrow span, else selected among. */
function selectFrom(a: Float64Array, lo: number, hi: number, integral: boolean, ks: number[]): number[] {
  return integral && hi - lo < HISTOGRAM_MAX_VALUES ? kthSmallestOfIntegers(a, lo, hi - lo + 1, ks) : selectAmong(a, lo, hi, ks);
}

export function frameStats(f: Frame): FrameStats {
  let min = Infinity,
    max = -Infinity,
    sum = 0,
    nonZero = 0,
    masked = 0,
    n = 0;
  // Two percentiles need no sorted copy (sorting the pixels with a comparator took most of a derive
  // run, ~45 ms for a 487 × 195 frame). Unmasked pixels that are integers below 2^16 (most pixels of
  // photon-counting detectors) are counted per value in this same pass, the others (hot pixels)
  // kept: one pass over the frame, where copying every pixel out and counting it into buckets took
  // three (APS Pilatus frame, 487 × 195, interleaved runs: first call ~24 → ~21 ms, warm ~4.0 →
  // ~1.7 ms). A fraction below 2^16 (a float frame) ends the counting: what was counted joins the
  // kept pixels, and every pixel after it is kept too, to be selected among.
  let counting = true;
  const small = new Uint32Array(HISTOGRAM_MAX_VALUES);
  let smallCount = 0;
  const rest = new Float64Array(f.values.length);
  let restCount = 0;
  let restLowest = Infinity;
  let restIntegral = true;
  const values = f.values;
  // indexed: a for…of over the typed array ran at half the speed in steady state
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) continue;
    if (v < 0) masked++;
    else if (counting && v < HISTOGRAM_MAX_VALUES && (v | 0) === v) {
      small[v]!++;
      smallCount++;
    } else {
      if (counting && v < HISTOGRAM_MAX_VALUES) {
        counting = false;
        if (smallCount > 0) {
          // spilled in ascending order: the first is the lowest
          const from = restCount;
          restCount = spill(small, rest, restCount);
          restLowest = Math.min(restLowest, rest[from]!);
          smallCount = 0;
        }
      }
      rest[restCount++] = v;
      if (v < restLowest) restLowest = v;
      if (restIntegral && Math.floor(v) !== v) restIntegral = false;
    }
    if (v < min) min = v;
    if (v > max) max = v;
    if (v !== 0) nonZero++;
    sum += v;
    n++;
  }
  const count = smallCount + restCount;
  let p005 = 0;
  let p995 = 0;
  if (count > 0) {
    const ks = [Math.floor(count * 0.005), Math.min(count - 1, Math.floor(count * 0.995))];
    const kept = rest.subarray(0, restCount);
    // with unmasked pixels, `max` is the largest of them (masked ones are negative)
    [p005, p995] = (
      counting
        ? splitPercentiles(small, smallCount, kept, restLowest, restIntegral, max, ks)
        : selectFrom(kept, restLowest, max, restIntegral, ks)
    ) as [number, number];
  }
  return { min: n ? min : 0, max: n ? max : 0, mean: n ? sum / n : 0, sum, nonZero, masked, p005, p995 };
}

/** How previewPixels scales, in words, for the summary that goes with the preview. */
export const PREVIEW_SCALE = "linear, 0.5th … 99.5th percentile of the unmasked pixels → 0 … 255; masked (negative) pixels black";

/**
 * 8-bit preview: the 0.5th … 99.5th percentile mapped linearly onto 0 … 255, masked pixels black.
 * Scaling from the low percentile rather than zero keeps contrast in frames with a large offset
 * (a pedestal of ~900 counts would otherwise leave every pixel the same grey).
 */
export function previewPixels(f: Frame, stats: FrameStats): Uint8Array {
  const out = new Uint8Array(f.values.length);
  // A frame whose percentiles coincide (nearly flat) still shows its extremes.
  const [lo, hi] = stats.p995 > stats.p005 ? [stats.p005, stats.p995] : [Math.max(0, stats.min), stats.max];
  const span = hi > lo ? hi - lo : 1;
  for (let i = 0; i < out.length; i++) {
    const v = f.values[i]!;
    out[i] = !Number.isFinite(v) || v < 0 ? 0 : Math.max(0, Math.min(255, Math.round(((v - lo) / span) * 255)));
  }
  return out;
}

/**
 * The NeXus signal dataset to preview: the first numeric one with two or more dimensions whose
 * values are in this file. Otherwise the reason why there is none, naming an external signal's
 * target file, since derive reads only the file of the event.
 */
export function nexusFrameSignal(entries: NexusEntry[]): { path: string } | string {
  const signals = entries.flatMap((e) => [e, ...(e.subentries ?? [])]).flatMap((e) => e.data);
  const readable = signals.find((d) => !d.external && d.shape.length >= 2 && /^[<>][iuf]/.test(d.dtype));
  if (readable) return { path: readable.path };
  const external = signals.find((d) => d.external);
  if (external) {
    const x = external.external!;
    const what = x.via
      ? `a virtual dataset whose source ${x.via} is an external link`
      : x.virtual
        ? "a virtual dataset"
        : "an external link";
    return `signal ${external.path} is ${what} ${x.virtual && !x.via ? "reading from" : "to"} missing file ${x.file} (object ${x.path}); derive reads only the event's own file`;
  }
  return signals.length
    ? `no NXdata signal with two or more numeric dimensions (${signals.map((d) => `${d.path}: ${d.dtype} ${JSON.stringify(d.shape)}`).join(", ")})`
    : "no NXdata signal with two or more dimensions";
}
