// dCache access for functions, through the project's dCache clients (lib/dcache): namespace API
// (size, mtime, checksums) on the frontend; WebDAV for streamed reads, HEAD with Want-Digest, PUT
// and MKCOL; plus synchronous Range reads for the HDF5 library (lib/http). This module turns the
// clients' failures into messages that name the parameter to check, and a 404 into NotFound.
import { activation } from "../../lib/activation.ts";
import { DcacheError, type Credentials, type DcacheEndpoint } from "../../lib/dcache/endpoint.ts";
import { stat as namespaceStat } from "../../lib/dcache/namespace.ts";
import { getRange, getStream, headFile, makeDirectories, putFile } from "../../lib/dcache/webdav.ts";
import { MemoryByteSource, type ByteSource } from "../../lib/formats/byte-source.ts";
import { SyncRangeReader, type TransferStats } from "../../lib/http/sync-range-reader.ts";
import { ActionError, safeUrl, StepFailure } from "./errors.ts";
import { dirName, type FileRecord } from "./files.ts";

export interface StorageParams {
  webdavUrl?: string;
  frontendUrl?: string;
  dcacheUser?: string;
  dcachePassword?: string;
  dcacheToken?: string;
  timeoutMs?: number;
}

export interface FileStat {
  size: number;
  mtime?: string;
  fileType?: string;
  /** ADLER32 dCache recorded, when it has one (and it was asked for). */
  adler32?: string;
}

export class NotFound extends ActionError {}

/**
 * What a record says of its file, when that can stand for a namespace lookup: its size and mtime
 * were looked up a moment ago (by checksum, or the feed's event), and the file is small enough to be
 * read with the one GET of `Storage.bytes`, which fails if the file no longer has that size.
 */
export function recordedStat(file: FileRecord): FileStat | undefined {
  if (file.size === undefined || file.mtime === undefined || file.size > WHOLE_FILE_BYTES) return undefined;
  return { size: file.size, mtime: file.mtime };
}

/** A file's bytes as the format readers take them, with what reading them cost. */
export type StoredBytes = ByteSource & { readonly stats: TransferStats; close(): void };

/**
 * Files up to this size are fetched whole with one GET and read from memory: one request costs less
 * than the HDF5 library's many small Range reads (each a round trip through the reader's worker),
 * and small detector files are most of a beamline's stream. Larger files are read in ranges.
 */
export const WHOLE_FILE_BYTES = 1024 * 1024;

/** Milliseconds left before the OpenWhisk deadline (minus a margin), capped by `timeoutMs`. */
export function requestTimeout(timeoutMs = 30_000): number {
  const { deadline } = activation();
  if (deadline === null) return timeoutMs;
  return Math.max(100, Math.min(timeoutMs, deadline - Date.now() - 500));
}

function notFound(path: string, what: string): NotFound {
  return new NotFound(`${path} not found in storage (${what}: 404); it may have been deleted after the event`, 404);
}

export class Storage {
  constructor(private readonly p: StorageParams) {}

  private get credentials(): Credentials {
    if (this.p.dcacheToken) return { type: "bearer", token: this.p.dcacheToken };
    if (this.p.dcacheUser) return { type: "basic", username: this.p.dcacheUser, password: this.p.dcachePassword ?? "" };
    return { type: "none" };
  }

  get authHeaders(): Record<string, string> {
    const c = this.credentials;
    if (c.type === "bearer") return { Authorization: `Bearer ${c.token}` };
    if (c.type === "basic") return { Authorization: `Basic ${Buffer.from(`${c.username}:${c.password}`).toString("base64")}` };
    return {};
  }

  private endpoint(which: "webdavUrl" | "frontendUrl"): DcacheEndpoint {
    const url = this.p[which];
    if (!url)
      throw new StepFailure(
        `parameter ${which} is required (${which === "webdavUrl" ? "the dCache WebDAV door, e.g. https://dcache.example.org:2880" : "the dCache frontend, e.g. https://dcache.example.org:3880"})`,
        false,
      );
    return { url, credentials: this.credentials, timeoutMs: requestTimeout(this.p.timeoutMs) };
  }

  webdavUrlOf(path: string): string {
    return this.endpoint("webdavUrl").url.replace(/\/+$/, "") + path.split("/").map(encodeURIComponent).join("/");
  }

  /** Runs a lib/dcache call, translating its errors. */
  private async run<T>(
    service: "dCache WebDAV" | "the dCache namespace API",
    param: "webdavUrl" | "frontendUrl",
    what: string,
    path: string,
    fn: () => Promise<T>,
  ): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof DcacheError)) throw e;
      if (e.status === 0) {
        const why = /failed: (.*?)(; is the .*)?$/.exec(e.message)?.[1] ?? e.message;
        const short = /ECONNREFUSED/.test(why) ? "connection refused" : /ENOTFOUND|EAI_AGAIN/.test(why) ? "host not found" : why;
        const message = `cannot reach ${service} at ${safeUrl(e.url)} (${short}); check that it runs and that parameter ${param} is right`;
        // Nobody answering concerns every file; a timeout or a reset may be this file's transfer alone.
        if (short !== why) throw new StepFailure(message, true);
        throw new ActionError(`${path}: ${message}`);
      }
      if (e.status === 404) throw notFound(path, what);
      if (e.status === 401)
        throw new StepFailure(`${what} for ${path} refused (401); check dcacheUser/dcachePassword or dcacheToken`, false, 401);
      if (e.status === 403) {
        throw new ActionError(`${what} for ${path} refused (403); check the file's permissions for this account`, e.status);
      }
      throw new ActionError(`${what} for ${path} failed: ${e.message}`, e.status);
    }
  }

  /** Size, mtime (and ADLER32 with `checksum`) from the namespace API, else from a WebDAV HEAD. */
  async stat(path: string, opts: { checksum?: boolean } = {}): Promise<FileStat> {
    if (!this.p.frontendUrl) return this.head(path);
    const ep = this.endpoint("frontendUrl");
    const attrs = await this.run("the dCache namespace API", "frontendUrl", "namespace lookup", path, () =>
      namespaceStat(ep, path, { checksum: !!opts.checksum }),
    );
    if (!attrs) throw notFound(path, "namespace lookup");
    const st: FileStat = { size: Number(attrs.size ?? 0), fileType: attrs.fileType };
    if (typeof attrs.mtime === "number") st.mtime = new Date(attrs.mtime).toISOString();
    const a = attrs.checksums?.find((c) => c.type.toUpperCase() === "ADLER32");
    if (a) st.adler32 = a.value.toLowerCase().padStart(8, "0");
    return st;
  }

  /** WebDAV HEAD with `Want-Digest: adler32` (RFC 3230). */
  async head(path: string): Promise<FileStat> {
    const ep = this.endpoint("webdavUrl");
    const h = await this.run("dCache WebDAV", "webdavUrl", "WebDAV HEAD", path, () => headFile(ep, path, { wantDigest: "adler32" }));
    if (!h) throw notFound(path, "WebDAV HEAD");
    const st: FileStat = { size: h.size };
    if (h.lastModified) st.mtime = new Date(h.lastModified).toISOString();
    if (h.adler32) st.adler32 = h.adler32;
    return st;
  }

  /** The file's bytes as a stream (never buffered whole). */
  async open(path: string): Promise<{ body: AsyncIterable<Uint8Array>; size?: number }> {
    const ep = this.endpoint("webdavUrl");
    const r = await this.run("dCache WebDAV", "webdavUrl", "WebDAV GET", path, () => getStream(ep, path));
    return r.size === undefined ? { body: r.body } : { body: r.body, size: r.size };
  }

  /**
   * Random access to a file of known `size` for the format readers: a small file (≤ WHOLE_FILE_BYTES)
   * fetched whole with one GET, a larger one through synchronous Range reads.
   */
  async bytes(path: string, size: number): Promise<StoredBytes> {
    if (size > WHOLE_FILE_BYTES) return this.rangeReader(path, size);
    if (size === 0) return new MemoryByteSource(new Uint8Array(0));
    const ep = this.endpoint("webdavUrl");
    const changed = (got: string) =>
      new ActionError(
        `${path}: the storage announced ${size} bytes but ${got}; the file changed while it was read (try again once it is complete)`,
        0,
      );
    let body: { bytes: Buffer; total: number | undefined };
    try {
      body = await this.run("dCache WebDAV", "webdavUrl", "WebDAV GET", path, () => getRange(ep, path, 0, size - 1));
    } catch (e) {
      // 416: the file is shorter now than the size it had a moment ago
      if (e instanceof ActionError && e.status === 416) throw changed("a read of them was refused as past its end (416)");
      throw e;
    }
    const { bytes, total } = body;
    if (bytes.length !== size) throw changed(`a read of them returned ${bytes.length}`);
    // a file that grew: the first `size` bytes came, but they are no longer the whole file
    if (total !== undefined && total !== size) throw changed(`it holds ${total} now`);
    return new MemoryByteSource(bytes, { requests: 1, bytes: bytes.length });
  }

  /**
   * A file read whole with one GET before its size is known (beside the namespace lookup), if it is
   * small: the first WHOLE_FILE_BYTES + 1 bytes are asked for, and fewer come only when that is the
   * whole file. Undefined for a larger file, or when the read fails (the caller then reads as the
   * namespace says, and reports that read's failure).
   */
  async smallFile(path: string): Promise<StoredBytes | undefined> {
    try {
      const ep = this.endpoint("webdavUrl");
      const { bytes } = await getRange(ep, path, 0, WHOLE_FILE_BYTES);
      return bytes.length <= WHOLE_FILE_BYTES ? new MemoryByteSource(bytes, { requests: 1, bytes: bytes.length }) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Synchronous Range access for the HDF5 library (see lib/http/sync-range-reader.ts). */
  rangeReader(path: string, size: number): SyncRangeReader {
    const reader = new SyncRangeReader(this.webdavUrlOf(path), { headers: this.authHeaders, timeoutMs: requestTimeout(this.p.timeoutMs) });
    reader.knownSize = size;
    return reader;
  }

  /**
   * PUT. A missing parent directory (409, RFC 4918) is made, then the PUT repeated: most files go
   * into a directory that exists already, so making it first would cost a request each time.
   */
  async put(path: string, body: Uint8Array, contentType: string): Promise<void> {
    const ep = this.endpoint("webdavUrl");
    const send = () => putFile(ep, path, body, { contentType });
    await this.run("dCache WebDAV", "webdavUrl", "WebDAV PUT", path, async () => {
      try {
        await send();
      } catch (e) {
        if (!(e instanceof DcacheError && e.status === 409)) throw e;
        await makeDirectories(ep, dirName(path));
        await send();
      }
    });
  }
}
