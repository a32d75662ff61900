// GET /api/v1/namespace/{path}: file attributes, optionally children (paged) and ADLER32 checksums.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Account } from "./accounts.ts";
import type { ChecksumStore } from "./checksum-store.ts";
import { sendJson } from "../../lib/http/server.ts";
import { sendJsonError } from "./http.ts";
import { attributesOf, listChildren, type FileAttributes } from "./namespace.ts";
import { decodeSegments, lstatOrUndefined, type StorageRoot } from "./paths.ts";

function flag(url: URL, name: string): boolean {
  const v = url.searchParams.get(name);
  return v !== null && v !== "false" && v !== "0";
}

function nonNegativeInt(url: URL, name: string): number | undefined | Error {
  const v = url.searchParams.get(name);
  if (v === null || v === "") return undefined;
  if (!/^\d+$/.test(v)) return new Error(`query parameter ${name}=${v} must be a non-negative integer`);
  return Number(v);
}

export function createNamespaceHandler(root: StorageRoot, checksums: ChecksumStore) {
  async function decorate(attrs: FileAttributes, fsPath: string, url: URL): Promise<FileAttributes> {
    if (flag(url, "checksum") && attrs.fileType === "REGULAR") {
      attrs.checksums = [{ type: "ADLER32", value: await checksums.adler32(fsPath) }];
    }
    if (flag(url, "locality")) attrs.fileLocality = attrs.fileType === "REGULAR" ? "ONLINE" : "NONE";
    if (flag(url, "qos")) attrs.currentQos = "disk";
    if (flag(url, "locations")) attrs.locations = attrs.fileType === "REGULAR" ? ["local-pool"] : [];
    if (flag(url, "xattr")) attrs.xattr = {};
    if (flag(url, "labels")) attrs.labels = [];
    return attrs;
  }

  return async function handle(req: IncomingMessage, res: ServerResponse, url: URL, rawPath: string, account: Account): Promise<void> {
    if (req.method !== "GET")
      return sendJsonError(res, 405, `method ${req.method} is not supported on the namespace by this storage; use GET`, { Allow: "GET" });
    const offset = nonNegativeInt(url, "offset");
    const limit = nonNegativeInt(url, "limit");
    if (offset instanceof Error) return sendJsonError(res, 400, offset.message);
    if (limit instanceof Error) return sendJsonError(res, 400, limit.message);
    const target = await root.resolve(decodeSegments(rawPath), account.home);
    // synchronous, like the path check: see StorageRoot.assertInside
    const st = lstatOrUndefined(target.fsPath);
    if (!st) return sendJsonError(res, 404, `File not found: ${target.path}`);
    const name = target.path.slice(target.path.lastIndexOf("/") + 1);
    const attrs = await decorate(attributesOf(name, st), target.fsPath, url);
    if (flag(url, "children") && st.isDirectory()) {
      const children = await listChildren(target.fsPath, { offset: offset ?? 0, limit });
      attrs.children = [];
      for (const c of children) {
        const childAttrs = await decorate(attributesOf(c.name, c.st), c.fsPath, url).catch(() => undefined);
        if (childAttrs) attrs.children.push({ fileName: c.name, ...childAttrs });
      }
    }
    sendJson(res, 200, attrs);
  };
}
