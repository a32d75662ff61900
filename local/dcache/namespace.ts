// File attributes in the shape of dCache's frontend namespace resource (JsonFileAttributes).
import type { Stats } from "node:fs";
import { lstat, readdir } from "node:fs/promises";
import { extname, join } from "node:path";

export type FileType = "REGULAR" | "DIR" | "LINK" | "SPECIAL";

export interface FileAttributes {
  fileName?: string;
  fileMimeType: string;
  fileType: FileType;
  pnfsId: string;
  nlink: number;
  mtime: number;
  creationTime: number;
  accessTime: number;
  changeTime: number;
  size: number;
  mode: number;
  fileLocality?: string;
  currentQos?: string;
  checksums?: { type: string; value: string }[];
  xattr?: Record<string, string>;
  labels?: string[];
  locations?: string[];
  children?: FileAttributes[];
}

const MIME: Record<string, string> = {
  ".nxs": "application/x-hdf5",
  ".h5": "application/x-hdf5",
  ".hdf5": "application/x-hdf5",
  ".hdf": "application/x-hdf",
  ".json": "application/json",
  ".txt": "text/plain",
  ".csv": "text/csv",
  ".xml": "application/xml",
  ".tif": "image/tiff",
  ".tiff": "image/tiff",
  ".cbf": "application/octet-stream",
  ".zip": "application/zip",
};

export const DIRECTORY_MIME = "application/vnd.dcache.folder";

export function mimeTypeOf(name: string, type: FileType): string {
  if (type === "DIR") return DIRECTORY_MIME;
  return MIME[extname(name).toLowerCase()] ?? "application/octet-stream";
}

export function fileTypeOf(st: Stats): FileType {
  if (st.isSymbolicLink()) return "LINK";
  if (st.isDirectory()) return "DIR";
  if (st.isFile()) return "REGULAR";
  return "SPECIAL";
}

/** A dCache-style PNFS-ID (36 hex digits), stable for the life of the inode. */
export function pnfsIdOf(st: Stats): string {
  return `0000${st.dev.toString(16).padStart(8, "0").slice(-8)}${st.ino.toString(16).padStart(24, "0").slice(-24)}`;
}

export function attributesOf(name: string, st: Stats): FileAttributes {
  const type = fileTypeOf(st);
  return {
    fileMimeType: mimeTypeOf(name, type),
    fileType: type,
    pnfsId: pnfsIdOf(st),
    nlink: st.nlink,
    mtime: Math.floor(st.mtimeMs),
    creationTime: Math.floor(st.birthtimeMs > 0 ? st.birthtimeMs : st.ctimeMs),
    accessTime: Math.floor(st.atimeMs),
    changeTime: Math.floor(st.ctimeMs),
    size: type === "DIR" ? 512 : st.size,
    mode: st.mode & 0o7777,
  };
}

export interface ListOptions {
  offset: number;
  limit: number | undefined;
}

/** Children sorted by name, paged; entries that vanish while listing are skipped. */
export async function listChildren(fsDir: string, opts: ListOptions): Promise<{ name: string; fsPath: string; st: Stats }[]> {
  const names = (await readdir(fsDir)).sort();
  const page = names.slice(opts.offset, opts.limit === undefined ? undefined : opts.offset + opts.limit);
  const out: { name: string; fsPath: string; st: Stats }[] = [];
  for (const name of page) {
    const fsPath = join(fsDir, name);
    const st = await lstat(fsPath).catch(() => undefined);
    if (st) out.push({ name, fsPath, st });
  }
  return out;
}
