// How to reach a dCache service and who we are to it. Credentials: HTTP Basic, or a bearer token
// (macaroon, OIDC access token, SciToken) sent as `Authorization: Bearer` or as `?authz=`.
// Error messages name the URL without its query (where an `authz` token may be) and never the
// credentials.
import { restFetch, type RestInit, type RestResponse } from "../http/rest-fetch.ts";

export type Credentials =
  | { type: "basic"; username: string; password: string }
  | { type: "bearer"; token: string; via?: "header" | "query" }
  | { type: "none" };

export interface DcacheEndpoint {
  /** base URL, e.g. https://dcache.example.org:3880 (frontend) or https://dcache.example.org:2880 (WebDAV) */
  url: string;
  credentials?: Credentials;
  /** per-request timeout for non-streaming calls (default 30 s) */
  timeoutMs?: number;
}

export class DcacheError extends Error {
  constructor(
    readonly status: number,
    /** the URL without its query string */
    readonly url: string,
    message: string,
  ) {
    super(message);
    this.name = "DcacheError";
  }
}

export function redact(url: string | URL): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

/** Adds the credentials to a request: an Authorization header, or ?authz= on the URL. */
export function authorise(url: URL, headers: Record<string, string>, credentials: Credentials | undefined): void {
  if (!credentials || credentials.type === "none") return;
  if (credentials.type === "basic") {
    headers.Authorization = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}`;
  } else if (credentials.via === "query") {
    url.searchParams.set("authz", credentials.token);
  } else {
    headers.Authorization = `Bearer ${credentials.token}`;
  }
}

/** Encodes a dCache path (absolute, "/"-separated) for use in a URL, segment by segment. */
export function encodePath(path: string): string {
  if (!path.startsWith("/")) throw new Error(`dCache paths are absolute; "${path}" does not start with "/"`);
  return path.split("/").map(encodeURIComponent).join("/");
}

/** Joins a base URL and a path below it (keeping any path prefix of the base). */
export function urlOf(base: string, path: string): URL {
  const u = new URL(base);
  u.pathname = u.pathname.replace(/\/+$/, "") + path;
  return u;
}

/** dCache's frontend reports errors as {"errors":[{"message":…}]}; other servers send text. */
export async function errorFrom(res: Pick<RestResponse, "status" | "url" | "text">, what: string): Promise<DcacheError> {
  const text = await res.text().catch(() => "");
  let detail = text.trim().slice(0, 500);
  try {
    const j = JSON.parse(text) as { errors?: { message?: string }[] };
    if (j.errors?.[0]?.message) detail = j.errors[0].message;
  } catch {
    // not JSON: keep the text
  }
  return new DcacheError(res.status, redact(res.url), `${what} failed: HTTP ${res.status}${detail ? `: ${detail}` : ""}`);
}

/** fetch with credentials and a timeout; the URL may be absolute (e.g. a channel URL). */
export async function call(ep: DcacheEndpoint, url: URL, init: RestInit = {}): Promise<RestResponse> {
  const headers: Record<string, string> = { ...(init.headers ?? {}) };
  const target = new URL(url);
  authorise(target, headers, ep.credentials);
  try {
    // a kept-alive connection the server closed meanwhile is restFetch's to retry
    return await restFetch(target, { ...init, headers, signal: init.signal ?? AbortSignal.timeout(ep.timeoutMs ?? 30_000) });
  } catch (e) {
    const why =
      (e as Error).name === "TimeoutError"
        ? `no answer within ${ep.timeoutMs ?? 30_000} ms`
        : ((e as Error & { cause?: Error }).cause?.message ?? (e as Error).message);
    throw new DcacheError(
      0,
      redact(url),
      `${init.method ?? "GET"} ${redact(url)} failed: ${why}; is the dCache service running and reachable?`,
    );
  }
}
