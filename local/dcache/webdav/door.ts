// The WebDAV door: PUT, GET (with Range), HEAD, DELETE, MKCOL, MOVE, PROPFIND, OPTIONS over the
// storage root. Uploads stream to disk (never held in memory) and are hashed while they stream.
import type { IncomingMessage, ServerResponse } from "node:http";
import { closeSync, createReadStream, createWriteStream, openSync, readSync, statSync, type Stats } from "node:fs";
import { lstat, mkdir, readdir, rename, rmdir, stat, unlink } from "node:fs/promises";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { dirname } from "node:path";
import { Adler32 } from "../../../lib/checksum/adler32.ts";
import type { Account, Authenticator } from "../accounts.ts";
import { READ_AT_ONCE_BYTES, type ChecksumStore } from "../checksum-store.ts";
import type { ChangeNotifier } from "../changes.ts";
import { HttpError, readText, sendText } from "../../../lib/http/server.ts";
import { mimeTypeOf, fileTypeOf } from "../namespace.ts";
import { decodeSegments, type ResolvedPath, type StorageRoot } from "../paths.ts";
import { chooseDigest, digestHeader, suppliedAdler32 } from "./digest.ts";
import { FINITE_DEPTH_ERROR, etagOf, multistatus, parsePropfind, PropfindBodyError, type PropfindEntry } from "./propfind.ts";
import { parseRange } from "./range.ts";

const ALLOW = "OPTIONS, GET, HEAD, PUT, DELETE, MKCOL, MOVE, PROPFIND";

export interface DoorDeps {
  root: StorageRoot;
  auth: Authenticator;
  checksums: ChecksumStore;
  notifier: () => ChangeNotifier;
  log: (line: string) => void;
}

/** Synchronous, like the path check (see StorageRoot.assertInside): every GET, HEAD and PUT asks. */
function statOrUndefined(fsPath: string): Stats | undefined {
  try {
    return statSync(fsPath);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw e;
  }
}

/**
 * Buffers for one-read GETs, each taken back once its response is sent. A fresh buffer is memory the
 * kernel maps page by page as the read fills it, which cost more than the read itself (an 880 KiB
 * file: ~0.2 ms fresh, ~0.05 ms reused).
 */
const readBuffers: Buffer[] = [];
const KEEP_READ_BUFFERS = 8;

/**
 * `length` (≤ READ_AT_ONCE_BYTES) bytes from `start`, fewer if the file shrank since it was looked
 * at; 404 if it is gone. `release` gives the buffer back: only once nothing reads it any more.
 */
function readRangeOrGone(target: ResolvedPath, start: number, length: number): { bytes: Buffer; release(): void } {
  let fd: number;
  try {
    fd = openSync(target.fsPath, "r");
  } catch {
    throw new HttpError(404, `${target.path} does not exist`);
  }
  const buf = readBuffers.pop() ?? Buffer.allocUnsafeSlow(READ_AT_ONCE_BYTES);
  const release = () => {
    if (readBuffers.length < KEEP_READ_BUFFERS) readBuffers.push(buf);
  };
  try {
    // a regular file's read returns all it was asked for, short only at its end
    return { bytes: buf.subarray(0, readSync(fd, buf, 0, length, start)), release };
  } catch (e) {
    release();
    throw e;
  } finally {
    closeSync(fd);
  }
}

function hrefOf(path: string, isDir: boolean): string {
  const enc = path.split("/").map(encodeURIComponent).join("/");
  return isDir && !enc.endsWith("/") ? `${enc}/` : enc;
}

export function createWebdavHandler(deps: DoorDeps) {
  const { root, auth, checksums } = deps;

  async function resolveRequestPath(rawPath: string, account: Account): Promise<ResolvedPath> {
    return root.resolve(decodeSegments(rawPath), account.home);
  }

  async function get(req: IncomingMessage, res: ServerResponse, target: ResolvedPath, head: boolean): Promise<void> {
    const st = statOrUndefined(target.fsPath);
    if (!st) throw new HttpError(404, `${target.path} does not exist`);
    if (st.isDirectory()) {
      const names = (await readdir(target.fsPath)).sort();
      const rows = names.map(
        (n) => `<li><a href="${hrefOf(target.path === "/" ? `/${n}` : `${target.path}/${n}`, false)}">${n.replace(/[<>&"]/g, "")}</a></li>`,
      );
      const html = `<!DOCTYPE html><html><head><title>${target.path}</title></head><body><h1>${target.path}</h1><ul>${rows.join("")}</ul></body></html>\n`;
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Content-Length": Buffer.byteLength(html) });
      res.end(head ? undefined : html);
      return;
    }
    if (!st.isFile()) throw new HttpError(403, `${target.path} is not a regular file`);
    const headers: Record<string, string> = {
      "Content-Type": mimeTypeOf(target.path, fileTypeOf(st)),
      "Last-Modified": st.mtime.toUTCString(),
      ETag: etagOf(st),
      "Accept-Ranges": "bytes",
    };
    const algo = chooseDigest(req.headers["want-digest"] as string | undefined);
    if (algo) headers.Digest = await digestHeader(algo, target.fsPath, () => checksums.adler32(target.fsPath));
    const range = parseRange(req.headers.range, st.size);
    if (range.kind === "unsatisfiable")
      throw new HttpError(416, `range ${req.headers.range} is outside the file (size ${st.size})`, {
        headers: { "Content-Range": `bytes */${st.size}` },
      });
    const [start, end] = range.kind === "partial" ? [range.start, range.end] : [0, st.size - 1];
    const asked = st.size === 0 ? 0 : end - start + 1;
    // most detector files, and the ranges HDF5 readers ask for, in one synchronous read
    const body = !head && asked > 0 && asked <= READ_AT_ONCE_BYTES ? readRangeOrGone(target, start, asked) : undefined;
    // a file that shrank since its stat: the headers say what is sent (the client sees a short read)
    const length = body?.bytes.length ?? asked;
    if (asked > 0 && length === 0) {
      body?.release();
      throw new HttpError(416, `${target.path} changed while it was read: nothing left at byte ${start}`);
    }
    headers["Content-Length"] = String(length);
    if (range.kind === "partial") headers["Content-Range"] = `bytes ${start}-${start + length - 1}/${st.size}`;
    res.writeHead(range.kind === "partial" ? 206 : 200, headers);
    if (head || length === 0) {
      res.end();
      return;
    }
    const notifier = deps.notifier();
    notifier.read(target.fsPath, "open");
    notifier.read(target.fsPath, "access");
    if (body) {
      // the socket may still be sending the buffer after end(): it is reused once all is sent
      res.once("finish", body.release);
      res.end(body.bytes);
      notifier.read(target.fsPath, "close");
      return;
    }
    try {
      await pipeline(createReadStream(target.fsPath, { start, end, highWaterMark: 1 << 20 }), res);
    } catch {
      // the client went away mid-transfer: nothing to report to it
    } finally {
      notifier.read(target.fsPath, "close");
    }
  }

  async function put(req: IncomingMessage, res: ServerResponse, target: ResolvedPath): Promise<void> {
    if (target.path === "/") throw new HttpError(405, "cannot PUT onto the root directory", { headers: { Allow: ALLOW } });
    const existing = statOrUndefined(target.fsPath);
    if (existing?.isDirectory())
      throw new HttpError(405, `${target.path} is a directory; PUT needs a file path`, { headers: { Allow: ALLOW } });
    const parent = statOrUndefined(dirname(target.fsPath));
    if (!parent?.isDirectory())
      throw new HttpError(409, `the parent directory of ${target.path} does not exist; create it first with MKCOL`);
    const expected = req.headers["content-length"] === undefined ? undefined : Number(req.headers["content-length"]);
    const supplied = suppliedAdler32(req.headers.digest as string | undefined);

    const notifier = deps.notifier();
    const release = checksums.beginUpload(target.fsPath);
    const sum = new Adler32();
    let bytes = 0;
    let ok = false;
    try {
      // A large buffer lets the stream gather the socket's 64 KiB chunks into few big writes.
      const out = createWriteStream(target.fsPath, { flags: "w", highWaterMark: 4 << 20 });
      await new Promise<void>((resolve, reject) => {
        out.once("open", () => resolve());
        out.once("error", reject);
      });
      if (!existing) notifier.created(target.fsPath, false);
      notifier.openedForWrite(target.fsPath);
      const hasher = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          if (bytes === 0) notifier.modified(target.fsPath);
          bytes += chunk.length;
          sum.update(chunk);
          cb(null, chunk);
        },
      });
      await pipeline(req, hasher, out);
      if (expected !== undefined && bytes !== expected)
        throw new HttpError(400, `upload incomplete: received ${bytes} of ${expected} bytes`);
      if (supplied && supplied !== sum.hex()) {
        throw new HttpError(
          409,
          `checksum mismatch: the client's Digest says adler32=${supplied}, the data received has adler32=${sum.hex()}; the file was not stored`,
        );
      }
      const st = await stat(target.fsPath);
      checksums.record(target.fsPath, st, sum.hex());
      ok = true;
    } catch (e) {
      await unlink(target.fsPath).catch(() => {});
      checksums.forget(target.fsPath);
      release();
      notifier.deleted(target.fsPath, false);
      if (e instanceof HttpError) throw e;
      if (
        req.destroyed ||
        (e as NodeJS.ErrnoException).code === "ECONNRESET" ||
        (e as NodeJS.ErrnoException).code === "ERR_STREAM_PREMATURE_CLOSE"
      ) {
        deps.log(`webdav: upload of ${target.path} aborted by the client after ${bytes} bytes; partial file removed`);
        return;
      }
      throw e;
    } finally {
      if (ok) {
        release();
        notifier.closedWrite(target.fsPath);
      }
    }
    res.writeHead(existing ? 204 : 201, { "Content-Length": "0", ETag: etagOf(await stat(target.fsPath)) });
    res.end();
  }

  async function del(target: ResolvedPath): Promise<number> {
    if (target.path === "/") throw new HttpError(403, "the root directory cannot be deleted");
    const st = await lstat(target.fsPath).catch(() => undefined);
    if (!st) throw new HttpError(404, `${target.path} does not exist`);
    if (st.isDirectory()) {
      if ((await readdir(target.fsPath)).length > 0)
        throw new HttpError(409, `directory ${target.path} is not empty; delete its contents first`);
      await rmdir(target.fsPath);
    } else {
      await unlink(target.fsPath);
      checksums.forget(target.fsPath);
    }
    deps.notifier().deleted(target.fsPath, st.isDirectory());
    return 204;
  }

  async function mkcol(req: IncomingMessage, target: ResolvedPath): Promise<number> {
    const body = await readText(req, { limit: 1024 }).catch(() => "x");
    if (body.length > 0) throw new HttpError(415, "MKCOL with a request body is not supported; send it without a body");
    if (
      await lstat(target.fsPath).then(
        () => true,
        () => false,
      )
    )
      throw new HttpError(405, `${target.path} already exists`, { headers: { Allow: ALLOW } });
    const parent = statOrUndefined(dirname(target.fsPath));
    if (!parent?.isDirectory()) throw new HttpError(409, `the parent directory of ${target.path} does not exist; create the parents first`);
    await mkdir(target.fsPath);
    deps.notifier().created(target.fsPath, true);
    return 201;
  }

  async function move(req: IncomingMessage, target: ResolvedPath, account: Account): Promise<number> {
    const destHeader = req.headers.destination;
    if (typeof destHeader !== "string" || destHeader === "")
      throw new HttpError(400, "MOVE needs a Destination header (an absolute URL or path)");
    let destPath: string;
    try {
      destPath = /^[a-z][a-z0-9+.-]*:\/\//i.test(destHeader) ? destHeader.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, "") : destHeader;
      destPath = destPath.split(/[?#]/)[0]!;
    } catch {
      throw new HttpError(400, `Destination "${destHeader}" is not a URL`);
    }
    const dest = await resolveRequestPath(destPath, account);
    if (target.path === "/") throw new HttpError(403, "the root directory cannot be moved");
    const src = await lstat(target.fsPath).catch(() => undefined);
    if (!src) throw new HttpError(404, `${target.path} does not exist`);
    if (dest.path === target.path) throw new HttpError(403, "source and destination are the same");
    if (src.isDirectory() && dest.path.startsWith(`${target.path}/`)) throw new HttpError(409, `cannot move ${target.path} into itself`);
    const overwrite = String(req.headers.overwrite ?? "T").toUpperCase() !== "F";
    const existing = await lstat(dest.fsPath).catch(() => undefined);
    if (existing && !overwrite) throw new HttpError(412, `${dest.path} exists and Overwrite: F was given`);
    const parent = statOrUndefined(dirname(dest.fsPath));
    if (!parent?.isDirectory()) throw new HttpError(409, `the parent directory of ${dest.path} does not exist`);
    if (existing?.isDirectory()) {
      if ((await readdir(dest.fsPath)).length > 0) throw new HttpError(409, `${dest.path} is a non-empty directory; it cannot be replaced`);
      if (!src.isDirectory()) {
        await rmdir(dest.fsPath);
        deps.notifier().deleted(dest.fsPath, true);
      }
    } else if (existing && src.isDirectory()) {
      throw new HttpError(409, `${dest.path} is a file; a directory cannot replace it`);
    }
    await rename(target.fsPath, dest.fsPath);
    checksums.rename(target.fsPath, dest.fsPath);
    deps.notifier().moved(target.fsPath, dest.fsPath, src.isDirectory());
    return existing ? 204 : 201;
  }

  async function propfind(req: IncomingMessage, res: ServerResponse, target: ResolvedPath): Promise<void> {
    const depth = String(req.headers.depth ?? "infinity").toLowerCase();
    if (depth !== "0" && depth !== "1") {
      const body = FINITE_DEPTH_ERROR;
      res.writeHead(403, { "Content-Type": "application/xml; charset=utf-8", "Content-Length": Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    let request;
    try {
      request = parsePropfind(await readText(req, { limit: 256 * 1024 }));
    } catch (e) {
      if (e instanceof PropfindBodyError) throw new HttpError(400, e.message);
      throw e;
    }
    const st = statOrUndefined(target.fsPath);
    if (!st) throw new HttpError(404, `${target.path} does not exist`);
    const name = target.path === "/" ? "/" : target.path.slice(target.path.lastIndexOf("/") + 1);
    const entries: PropfindEntry[] = [{ href: hrefOf(target.path, st.isDirectory()), name, st }];
    if (depth === "1" && st.isDirectory()) {
      for (const child of (await readdir(target.fsPath)).sort()) {
        const cst = statOrUndefined(`${target.fsPath}/${child}`);
        if (!cst) continue;
        const childPath = target.path === "/" ? `/${child}` : `${target.path}/${child}`;
        entries.push({ href: hrefOf(childPath, cst.isDirectory()), name: child, st: cst });
      }
    }
    const xml = multistatus(entries, request);
    res.writeHead(207, { "Content-Type": "application/xml; charset=utf-8", "Content-Length": Buffer.byteLength(xml) });
    res.end(xml);
  }

  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? "/", "http://localhost");
      const who = auth.authenticate(req, url);
      if (!("account" in who)) {
        throw new HttpError(401, "anonymous" in who ? "authentication required: use HTTP Basic or a bearer token" : who.rejected, {
          headers: { "WWW-Authenticate": 'Basic realm="dCache"' },
        });
      }
      // The raw path, not URL.pathname: the URL parser would silently resolve "..".
      const target = await resolveRequestPath(rawPathOf(req), who.account);
      switch (req.method) {
        case "OPTIONS":
          res.writeHead(200, { DAV: "1", Allow: ALLOW, "MS-Author-Via": "DAV", "Content-Length": "0" });
          res.end();
          return;
        case "GET":
        case "HEAD":
          return await get(req, res, target, req.method === "HEAD");
        case "PUT":
          return await put(req, res, target);
        case "PROPFIND":
          return await propfind(req, res, target);
        case "DELETE":
          return end(res, await del(target));
        case "MKCOL":
          return end(res, await mkcol(req, target));
        case "MOVE":
          return end(res, await move(req, target, who.account));
        default:
          throw new HttpError(405, `method ${req.method} is not supported by this WebDAV door; allowed: ${ALLOW}`, {
            headers: { Allow: ALLOW },
          });
      }
    } catch (e) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (req.method !== "PUT" && !req.readableEnded) req.resume();
      if (e instanceof HttpError) return sendText(res, e.status, e.message, e.headers);
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return sendText(res, 404, "no such file or directory");
      if (code === "EACCES" || code === "EPERM") return sendText(res, 403, "permission denied by the local file system");
      if (code === "ENOSPC") return sendText(res, 507, "no space left on the storage");
      deps.log(`webdav: ${req.method} failed: ${(e as Error).message}`);
      sendText(res, 500, "internal error in the WebDAV door; see the server log");
    }
  };
}

function rawPathOf(req: IncomingMessage): string {
  return (req.url ?? "/").split("?")[0]!;
}

function end(res: ServerResponse, status: number): void {
  res.writeHead(status, { "Content-Length": "0" });
  res.end();
}
