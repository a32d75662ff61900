// dCache access for functions: namespace API (size, mtime, checksums) on the frontend, data over
// WebDAV (streamed GET, HEAD with Want-Digest, Range reads, PUT). Written against the dCache
// contract so the same code talks to real dCache and to the local storage.
import { SyncRangeReader } from "../../lib/http/sync-range-reader.ts";
import { ActionError, bodyExcerpt, safeUrl, unreachable } from "./errors.ts";

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
  /** ADLER32 dCache recorded, when it has one. */
  adler32?: string;
}

export class NotFound extends ActionError {}

function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}

/** Milliseconds left before the OpenWhisk deadline (minus a margin), capped by `timeoutMs`. */
export function requestTimeout(timeoutMs = 30_000): number {
  const deadline = Number(process.env.__OW_DEADLINE);
  if (!Number.isFinite(deadline) || deadline <= 0) return timeoutMs;
  return Math.max(100, Math.min(timeoutMs, deadline - Date.now() - 500));
}

export class Storage {
  constructor(private readonly p: StorageParams) {}

  get authHeaders(): Record<string, string> {
    if (this.p.dcacheToken) return { Authorization: `Bearer ${this.p.dcacheToken}` };
    if (this.p.dcacheUser) return { Authorization: `Basic ${Buffer.from(`${this.p.dcacheUser}:${this.p.dcachePassword ?? ""}`).toString("base64")}` };
    return {};
  }

  webdavUrlOf(path: string): string {
    if (!this.p.webdavUrl) throw new ActionError("parameter webdavUrl is required (the dCache WebDAV door, e.g. https://dcache.example.org:2880)");
    return this.p.webdavUrl.replace(/\/+$/, "") + encodePath(path);
  }

  private async call(what: string, url: string, param: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, { ...init, headers: { ...this.authHeaders, ...(init.headers as Record<string, string>) }, signal: AbortSignal.timeout(requestTimeout(this.p.timeoutMs)) });
    } catch (e) {
      throw unreachable(what, url, param, e);
    }
  }

  private async failure(res: Response, what: string, path: string): Promise<ActionError> {
    const detail = await bodyExcerpt(res);
    if (res.status === 404) return new NotFound(`${path} not found in storage (${what}: 404); it may have been deleted after the event`, 404);
    if (res.status === 401 || res.status === 403) {
      return new ActionError(`${what} for ${path} refused (${res.status}${detail ? `: ${detail}` : ""}); check dcacheUser/dcachePassword or dcacheToken and the file's permissions`, res.status);
    }
    return new ActionError(`${what} for ${path} failed: HTTP ${res.status}${detail ? ` ${detail}` : ""}`, res.status);
  }

  /** Size, mtime and ADLER32 from the namespace API, or from a WebDAV HEAD when there is no frontendUrl. */
  async stat(path: string): Promise<FileStat> {
    if (this.p.frontendUrl) {
      const url = `${this.p.frontendUrl.replace(/\/+$/, "")}/api/v1/namespace${encodePath(path)}?checksum=true`;
      const res = await this.call("the dCache namespace API", url, "frontendUrl", { headers: { Accept: "application/json" } });
      if (!res.ok) throw await this.failure(res, "namespace lookup", path);
      const j = (await res.json()) as { size?: number; mtime?: number; fileType?: string; checksums?: Array<{ type: string; value: string }> };
      const st: FileStat = { size: Number(j.size ?? 0) };
      if (typeof j.mtime === "number") st.mtime = new Date(j.mtime).toISOString();
      if (j.fileType) st.fileType = j.fileType;
      const a = j.checksums?.find((c) => c.type.toUpperCase() === "ADLER32");
      if (a) st.adler32 = a.value.toLowerCase().padStart(8, "0");
      return st;
    }
    return this.head(path);
  }

  /** WebDAV HEAD with `Want-Digest: adler32` (RFC 3230). */
  async head(path: string): Promise<FileStat> {
    const res = await this.call("dCache WebDAV", this.webdavUrlOf(path), "webdavUrl", { method: "HEAD", headers: { "Want-Digest": "adler32" } });
    if (!res.ok) throw await this.failure(res, "WebDAV HEAD", path);
    const st: FileStat = { size: Number(res.headers.get("content-length") ?? 0) };
    const lm = res.headers.get("last-modified");
    if (lm) st.mtime = new Date(lm).toISOString();
    const digest = /adler32=([0-9a-fA-F]{1,8})/.exec(res.headers.get("digest") ?? "")?.[1];
    if (digest) st.adler32 = digest.toLowerCase().padStart(8, "0");
    return st;
  }

  /** The file's bytes as a stream (never buffered whole), with the digest dCache sent, if any. */
  async open(path: string): Promise<{ body: AsyncIterable<Uint8Array>; size?: number; digest?: string }> {
    const res = await this.call("dCache WebDAV", this.webdavUrlOf(path), "webdavUrl", { headers: { "Want-Digest": "adler32" } });
    if (!res.ok || !res.body) throw await this.failure(res, "WebDAV GET", path);
    const len = res.headers.get("content-length");
    const digest = /adler32=([0-9a-fA-F]{1,8})/.exec(res.headers.get("digest") ?? "")?.[1]?.toLowerCase().padStart(8, "0");
    const out: { body: AsyncIterable<Uint8Array>; size?: number; digest?: string } = { body: res.body as unknown as AsyncIterable<Uint8Array> };
    if (len !== null) out.size = Number(len);
    if (digest) out.digest = digest;
    return out;
  }

  /** Synchronous Range access for the HDF5 library (see lib/http/sync-range-reader.ts). */
  rangeReader(path: string, size: number): SyncRangeReader {
    const reader = new SyncRangeReader(this.webdavUrlOf(path), { headers: this.authHeaders, timeoutMs: requestTimeout(this.p.timeoutMs) });
    reader.knownSize = size;
    return reader;
  }

  /** Creates the directories of `path` that are missing (MKCOL each; 405 = exists already). */
  async mkdirs(dir: string): Promise<void> {
    let at = "";
    for (const part of dir.split("/").filter(Boolean)) {
      at += `/${part}`;
      const res = await this.call("dCache WebDAV", this.webdavUrlOf(at), "webdavUrl", { method: "MKCOL" });
      if (!res.ok && res.status !== 405) throw await this.failure(res, "WebDAV MKCOL", at);
      await res.body?.cancel();
    }
  }

  async put(path: string, body: Uint8Array, contentType: string): Promise<void> {
    const res = await this.call("dCache WebDAV", this.webdavUrlOf(path), "webdavUrl", { method: "PUT", body, headers: { "Content-Type": contentType } });
    if (!res.ok) throw await this.failure(res, "WebDAV PUT", path);
    await res.body?.cancel();
  }
}

export { safeUrl };
