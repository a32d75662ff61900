// WebDAV helpers for dCache doors: streamed upload, ranged download, HEAD with RFC 3230
// Want-Digest, and the namespace verbs. Uses node:http(s) rather than fetch for transfers so that
// uploads can send Content-Length and `Expect: 100-continue` — a real dCache door answers that with
// a redirect to a pool before any data is sent, and the data then goes to the pool.
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { authorise, DcacheError, encodePath, redact, urlOf, type DcacheEndpoint } from "./endpoint.ts";

const MAX_REDIRECTS = 5;

export type UploadBody = Uint8Array | string | Readable | AsyncIterable<Uint8Array> | (() => Readable);

function send(
  ep: DcacheEndpoint,
  method: string,
  url: URL,
  headers: OutgoingHttpHeaders,
  body?: () => Readable | Uint8Array | string,
  timeoutMs?: number,
): Promise<IncomingMessage> {
  const h: Record<string, string> = {};
  const target = new URL(url);
  authorise(target, h, ep.credentials);
  const all: OutgoingHttpHeaders = { ...headers, ...h };
  const request = target.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(target, { method, headers: all }, (res) => resolve(res));
    if (timeoutMs) req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", (e) =>
      reject(new DcacheError(0, redact(url), `${method} ${redact(url)} failed: ${e.message}; is the WebDAV door running and reachable?`)),
    );
    if (!body) return void req.end();
    const start = () => {
      const b = body();
      if (b instanceof Readable) {
        pipeline(b, req).catch((e) => req.destroy(e as Error));
      } else req.end(b);
    };
    if (all.Expect === "100-continue") {
      // Like curl: servers that ignore Expect get the body after a short wait anyway.
      let started = false;
      const once = () => {
        if (!started) {
          started = true;
          clearTimeout(t);
          start();
        }
      };
      const t = setTimeout(once, 1000);
      req.once("continue", once);
      req.once("response", () => {
        started = true;
        clearTimeout(t);
      });
    } else start();
  });
}

async function readText(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8").trim().slice(0, 500);
}

async function failure(res: IncomingMessage, url: URL, what: string): Promise<DcacheError> {
  const text = await readText(res).catch(() => "");
  return new DcacheError(res.statusCode ?? 0, redact(url), `${what} failed: HTTP ${res.statusCode}${text ? `: ${text}` : ""}`);
}

/** Sends a request, following redirects (a door sending us to a pool). */
async function followed(
  ep: DcacheEndpoint,
  method: string,
  url: URL,
  headers: OutgoingHttpHeaders,
  body?: () => Readable | Uint8Array | string,
  timeoutMs?: number,
): Promise<{ res: IncomingMessage; url: URL }> {
  let current = url;
  for (let i = 0; ; i++) {
    const res = await send(ep, method, current, headers, body, timeoutMs);
    const loc = res.headers.location;
    if (res.statusCode && [301, 302, 303, 307, 308].includes(res.statusCode) && loc && i < MAX_REDIRECTS) {
      res.resume();
      current = new URL(loc, current);
      continue;
    }
    return { res, url: current };
  }
}

function fileUrl(ep: DcacheEndpoint, path: string): URL {
  return urlOf(ep.url, encodePath(path));
}

export interface PutOptions {
  /** bytes to be sent; required for streams when the door refuses chunked uploads */
  contentLength?: number;
  /** sent as `Digest: adler32=…`, so that the storage verifies what it received */
  adler32?: string;
  contentType?: string;
}

/**
 * Uploads a file without holding it in memory. A stream body can be sent only once; pass a function
 * returning a fresh stream if the door may redirect after data was sent (with Expect: 100-continue
 * it redirects before). Returns true when a new file was created, false when one was replaced.
 */
export async function putFile(ep: DcacheEndpoint, path: string, body: UploadBody, opts: PutOptions = {}): Promise<{ created: boolean }> {
  const headers: OutgoingHttpHeaders = { "Content-Type": opts.contentType ?? "application/octet-stream" };
  let make: () => Readable | Uint8Array | string;
  if (typeof body === "string" || body instanceof Uint8Array) {
    headers["Content-Length"] = String(typeof body === "string" ? Buffer.byteLength(body) : body.length);
    make = () => body;
  } else {
    const src = typeof body === "function" ? body : () => (body instanceof Readable ? body : Readable.from(body));
    make = src;
    if (opts.contentLength !== undefined) headers["Content-Length"] = String(opts.contentLength);
    headers.Expect = "100-continue";
  }
  if (opts.adler32) headers.Digest = `adler32=${opts.adler32}`;
  const url = fileUrl(ep, path);
  const { res, url: at } = await followed(ep, "PUT", url, headers, make);
  if (res.statusCode === 201 || res.statusCode === 204 || res.statusCode === 200) {
    res.resume();
    return { created: res.statusCode === 201 };
  }
  throw await failure(res, at, `uploading ${path}`);
}

/** Opens a download stream; with `range` ([start, end] inclusive) the door must answer 206. */
export async function getStream(
  ep: DcacheEndpoint,
  path: string,
  opts: { range?: [number, number] } = {},
): Promise<{ body: Readable; size: number | undefined; status: number }> {
  const headers: OutgoingHttpHeaders = {};
  if (opts.range) headers.Range = `bytes=${opts.range[0]}-${opts.range[1]}`;
  const url = fileUrl(ep, path);
  const { res, url: at } = await followed(ep, "GET", url, headers);
  if (res.statusCode === 200 && !opts.range)
    return { body: res, size: Number(res.headers["content-length"] ?? NaN) || undefined, status: 200 };
  if (res.statusCode === 206 && opts.range) {
    const total = /\/(\d+)$/.exec(String(res.headers["content-range"] ?? ""));
    return { body: res, size: total ? Number(total[1]) : undefined, status: 206 };
  }
  if (res.statusCode === 200 && opts.range) {
    res.destroy();
    throw new DcacheError(
      200,
      redact(at),
      `reading bytes ${opts.range[0]}-${opts.range[1]} of ${path}: the door ignored the Range header and sent the whole file`,
    );
  }
  throw await failure(res, at, `reading ${path}`);
}

/**
 * Reads bytes start…end (inclusive) of a file, and the file's whole size as the door reports it
 * (Content-Range). A range past the end of the file gives 416.
 */
export async function getRange(
  ep: DcacheEndpoint,
  path: string,
  start: number,
  end: number,
): Promise<{ bytes: Buffer; total: number | undefined }> {
  if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && end >= start)) {
    throw new RangeError(`invalid byte range ${start}-${end}: need integers 0 ≤ start ≤ end`);
  }
  const { body, size } = await getStream(ep, path, { range: [start, end] });
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return { bytes: Buffer.concat(chunks), total: size };
}

export interface HeadResult {
  size: number;
  contentType: string | undefined;
  lastModified: string | undefined;
  etag: string | undefined;
  /** RFC 3230 digests by lowercase algorithm, e.g. { adler32: "0a1b2c3d", md5: "rFb0…==" } */
  digests: Record<string, string>;
  /** the ADLER32 from the Digest header, when asked for and supplied */
  adler32: string | undefined;
}

/** HEAD with `Want-Digest` (default adler32); null when the file does not exist. */
export async function headFile(ep: DcacheEndpoint, path: string, opts: { wantDigest?: string } = {}): Promise<HeadResult | null> {
  const url = fileUrl(ep, path);
  const { res, url: at } = await followed(
    ep,
    "HEAD",
    url,
    { "Want-Digest": opts.wantDigest ?? "adler32" },
    undefined,
    ep.timeoutMs ?? 30_000,
  );
  res.resume();
  if (res.statusCode === 404) return null;
  if (res.statusCode !== 200) throw new DcacheError(res.statusCode ?? 0, redact(at), `HEAD ${path} failed: HTTP ${res.statusCode}`);
  const digests: Record<string, string> = {};
  for (const part of String(res.headers.digest ?? "").split(",")) {
    const eq = part.indexOf("=");
    if (eq > 0) digests[part.slice(0, eq).trim().toLowerCase()] = part.slice(eq + 1).trim();
  }
  return {
    size: Number(res.headers["content-length"]),
    contentType: res.headers["content-type"],
    lastModified: res.headers["last-modified"],
    etag: res.headers.etag,
    digests,
    adler32: digests.adler32?.toLowerCase().padStart(8, "0"),
  };
}

async function simple(
  ep: DcacheEndpoint,
  method: string,
  path: string,
  ok: number[],
  what: string,
  headers: OutgoingHttpHeaders = {},
): Promise<number> {
  const url = fileUrl(ep, path);
  const res = await send(ep, method, url, headers, undefined, ep.timeoutMs ?? 30_000);
  if (res.statusCode && ok.includes(res.statusCode)) {
    res.resume();
    return res.statusCode;
  }
  throw await failure(res, url, what);
}

/** Creates a directory; false if it already existed. */
export async function makeDirectory(ep: DcacheEndpoint, path: string): Promise<boolean> {
  return (await simple(ep, "MKCOL", path, [201, 405], `creating directory ${path}`)) === 201;
}

/**
 * Creates a directory and its missing parents. The directory itself is asked for first: where its
 * parent exists (nearly always, e.g. derive's output folder) that is one MKCOL instead of one per
 * path segment; a 409 (parent missing, RFC 4918) makes the parents, then the directory.
 */
export async function makeDirectories(ep: DcacheEndpoint, path: string): Promise<void> {
  const parts = path.split("/").filter(Boolean);
  if (parts.length === 0) return;
  const dir = `/${parts.join("/")}`;
  const parentMissing = parts.length > 1 ? [409] : [];
  if ((await simple(ep, "MKCOL", dir, [201, 405, ...parentMissing], `creating directory ${dir}`)) !== 409) return;
  await makeDirectories(ep, `/${parts.slice(0, -1).join("/")}`);
  await makeDirectory(ep, dir);
}

export async function deletePath(ep: DcacheEndpoint, path: string): Promise<void> {
  await simple(ep, "DELETE", path, [200, 204], `deleting ${path}`);
}

/** Renames within the door; Overwrite: F unless `overwrite`. */
export async function movePath(ep: DcacheEndpoint, from: string, to: string, opts: { overwrite?: boolean } = {}): Promise<void> {
  const dest = fileUrl(ep, to).toString();
  await simple(ep, "MOVE", from, [201, 204], `moving ${from} to ${to}`, { Destination: dest, Overwrite: opts.overwrite ? "T" : "F" });
}
