// Describes one file from a ByteSource: detects the format and extracts its metadata while reading
// only what the format needs (HDF5: the ranges the library asks for; CBF/EDF: the header bytes).
import type { ByteSource } from "./byte-source.ts";
import { CBF_HEADER_BYTES, parseCbfHeader, type CbfHeader } from "./cbf.ts";
import { contentTypeFor, HDF5_SIGNATURE, SNIFF_BYTES, sniffFormat } from "./detect.ts";
import { EDF_HEADER_BYTES, parseEdfHeader, type EdfHeader } from "./edf.ts";
import { exdfMetadata, type ExdfMetadata } from "./exdf.ts";
import { openHdf5, type OpenedHdf5 } from "./hdf5-open.ts";
import { nexusEntries, type NexusEntry, type NexusWalk } from "./nexus.ts";

export type FileFormat = "nexus" | "exdf" | "hdf5" | "cbf" | "edf" | "unknown";

export interface FileDescription {
  format: FileFormat;
  contentType: string;
  size: number;
  mtime?: string;
  nexus?: { entries: NexusEntry[] };
  exdf?: ExdfMetadata;
  /** Plain HDF5 (neither NeXus nor EXDF): its top-level names. */
  hdf5?: { groups: string[] };
  cbf?: CbfHeader;
  edf?: EdfHeader;
}

function readHead(source: ByteSource, n: number): Uint8Array {
  const buf = new Uint8Array(Math.min(n, source.size));
  let got = 0;
  while (got < buf.length) {
    const r = source.read(buf, got, buf.length - got, got);
    if (r <= 0) break;
    got += r;
  }
  return buf.subarray(0, got);
}

/** HDF5 after a user block larger than the sniffed head: check each 512·2^k offset (8 bytes each). */
function hasLateHdf5Signature(source: ByteSource): boolean {
  const sig = new Uint8Array(8);
  for (let off = SNIFF_BYTES * 2; off + 8 <= source.size; off *= 2) {
    if (source.read(sig, 0, 8, off) === 8 && HDF5_SIGNATURE.every((b, i) => sig[i] === b)) return true;
  }
  return false;
}

export async function describe(source: ByteSource, path: string, info: { mtime?: string } = {}): Promise<FileDescription> {
  const { description, hdf5 } = await describeOpen(source, path, info);
  hdf5?.close();
  return description;
}

/**
 * As describe, but an HDF5 file stays open for more reads (derive reads its frame from it, so the
 * file is opened and its tree walked once); the caller closes `hdf5`. With `walk: "signals"`, only
 * the NXdata signals of a NeXus file are read: where its detector frames are (nexusEntries).
 */
export async function describeOpen(
  source: ByteSource,
  path: string,
  info: { mtime?: string; walk?: NexusWalk } = {},
): Promise<{ description: FileDescription; hdf5?: OpenedHdf5 }> {
  const base: FileDescription = { format: "unknown", contentType: contentTypeFor(path), size: source.size };
  if (info.mtime) base.mtime = info.mtime;
  if (source.size === 0) return { description: base };
  const head = readHead(source, SNIFF_BYTES);
  const first = sniffFormat(head);
  const sniffed = first === "unknown" && hasLateHdf5Signature(source) ? "hdf5" : first;
  if (sniffed === "cbf") {
    return {
      description: { ...base, format: "cbf", contentType: "application/x-cbf", cbf: parseCbfHeader(readHead(source, CBF_HEADER_BYTES)) },
    };
  }
  if (sniffed === "edf") {
    return {
      description: { ...base, format: "edf", contentType: "application/x-edf", edf: parseEdfHeader(readHead(source, EDF_HEADER_BYTES)) },
    };
  }
  if (sniffed !== "hdf5") return { description: base };
  const hdf5 = await openHdf5(source, path);
  try {
    return { description: hdf5Description(hdf5, base, info.walk), hdf5 };
  } catch (e) {
    hdf5.close();
    throw e;
  }
}

function hdf5Description(h5: OpenedHdf5, base: FileDescription, walk: NexusWalk = "all"): FileDescription {
  const entries = nexusEntries(h5.file, walk);
  if (entries.length) return { ...base, format: "nexus", contentType: "application/x-hdf5", nexus: { entries } };
  const exdf = exdfMetadata(h5.file);
  if (exdf) return { ...base, format: "exdf", contentType: "application/x-hdf5", exdf };
  return { ...base, format: "hdf5", contentType: "application/x-hdf5", hdf5: { groups: h5.file.keys() } };
}
