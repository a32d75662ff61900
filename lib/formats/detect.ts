// Tells a file's format from its first bytes (names can lie; magic numbers rarely do).
import { looksLikeCbf } from "./cbf.ts";
import { looksLikeEdf } from "./edf.ts";

export type SniffedFormat = "hdf5" | "cbf" | "edf" | "unknown";

export const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/** Bytes to read for sniffing; HDF5 superblocks may sit after a user block at 512·2^k. */
export const SNIFF_BYTES = 4096;

/** Offset of the HDF5 superblock signature within `head`, or -1. */
export function hdf5SignatureOffset(head: Uint8Array): number {
  for (let off = 0; off + 8 <= head.length; off = off === 0 ? 512 : off * 2) {
    if (HDF5_SIGNATURE.every((b, i) => head[off + i] === b)) return off;
  }
  return -1;
}

/** From the first bytes only; describe() also looks for HDF5 after larger user blocks. */
export function sniffFormat(head: Uint8Array): SniffedFormat {
  if (hdf5SignatureOffset(head) >= 0) return "hdf5";
  if (looksLikeCbf(head)) return "cbf";
  if (looksLikeEdf(head)) return "edf";
  return "unknown";
}

const TYPES: Record<string, string> = {
  ".h5": "application/x-hdf5",
  ".hdf5": "application/x-hdf5",
  ".hdf": "application/x-hdf5",
  ".nxs": "application/x-hdf5",
  ".nx5": "application/x-hdf5",
  ".cbf": "application/x-cbf",
  ".edf": "application/x-edf",
  ".tif": "image/tiff",
  ".tiff": "image/tiff",
  ".png": "image/png",
  ".json": "application/json",
  ".txt": "text/plain",
  ".csv": "text/csv",
};

export function contentTypeFor(path: string): string {
  const m = /\.[A-Za-z0-9]+$/.exec(path);
  return (m && TYPES[m[0].toLowerCase()]) || "application/octet-stream";
}
