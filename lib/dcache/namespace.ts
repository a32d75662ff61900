// The frontend's namespace resource (GET /api/v1/namespace/{path}): file attributes, directory
// listings (paged with limit/offset) and checksums.
import { call, encodePath, errorFrom, urlOf, type DcacheEndpoint } from "./endpoint.ts";

export interface Checksum {
  type: string;
  value: string;
}

export interface FileAttributes {
  fileName?: string;
  fileMimeType?: string;
  fileType: "REGULAR" | "DIR" | "LINK" | "SPECIAL";
  pnfsId?: string;
  nlink?: number;
  mtime?: number;
  creationTime?: number;
  size?: number;
  mode?: number;
  fileLocality?: string;
  currentQos?: string;
  checksums?: Checksum[];
  children?: FileAttributes[];
  [more: string]: unknown;
}

export interface StatOptions {
  checksum?: boolean;
  locality?: boolean;
  qos?: boolean;
}

function namespaceUrl(ep: DcacheEndpoint, path: string, query: Record<string, string>): URL {
  const url = urlOf(ep.url, `/api/v1/namespace${encodePath(path)}`);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  return url;
}

function flags(opts: StatOptions): Record<string, string> {
  const q: Record<string, string> = {};
  if (opts.checksum) q.checksum = "true";
  if (opts.locality) q.locality = "true";
  if (opts.qos) q.qos = "true";
  return q;
}

/** Attributes of a file or directory; null when it does not exist. */
export async function stat(ep: DcacheEndpoint, path: string, opts: StatOptions = {}): Promise<FileAttributes | null> {
  const res = await call(ep, namespaceUrl(ep, path, flags(opts)), { headers: { Accept: "application/json" } });
  if (res.status === 404) {
    await res.body?.cancel();
    return null;
  }
  if (!res.ok) throw await errorFrom(res, `reading the attributes of ${path}`);
  return (await res.json()) as FileAttributes;
}

/** A directory's entries, fetched `pageSize` at a time. */
export async function* listDirectory(
  ep: DcacheEndpoint,
  path: string,
  opts: StatOptions & { pageSize?: number } = {},
): AsyncGenerator<FileAttributes & { fileName: string }> {
  const pageSize = opts.pageSize ?? 1000;
  for (let offset = 0; ; offset += pageSize) {
    const url = namespaceUrl(ep, path, { ...flags(opts), children: "true", offset: String(offset), limit: String(pageSize) });
    const res = await call(ep, url, { headers: { Accept: "application/json" } });
    if (!res.ok) throw await errorFrom(res, `listing ${path}`);
    const dir = (await res.json()) as FileAttributes;
    const children = (dir.children ?? []) as (FileAttributes & { fileName: string })[];
    yield* children;
    if (children.length < pageSize) return;
  }
}

/** The ADLER32 checksum dCache holds for a file (8 lowercase hex digits), or undefined if none. */
export async function adler32Of(ep: DcacheEndpoint, path: string): Promise<string | undefined> {
  const attrs = await stat(ep, path, { checksum: true });
  if (!attrs) return undefined;
  return attrs.checksums?.find((c) => c.type.toUpperCase() === "ADLER32")?.value.toLowerCase();
}
