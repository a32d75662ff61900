// The small REST calls the pipeline makes by the thousand (SciCat, Rucio, the dCache namespace,
// OpenWhisk fires and activation reads) over node:http(s) with kept-alive connections, in the shape
// of fetch(): the same arguments, a Response with the parts those callers use, and the same errors
// (TypeError "fetch failed" with the system error as `cause`; the signal's reason, e.g. a
// TimeoutError, when it aborts). It costs half the client CPU of fetch() per request (672 → 328 µs
// here, `npm run bench -- http-client`); in a burst of 1,000 files the
// functions and the provider make some 30,000 such requests on the same two cores. Streams (SSE,
// file transfers) keep using fetch() or node:http directly. No redirect is followed (as fetch's
// `redirect: "manual"`): the callers handle Location themselves.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";

export interface RestInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  signal?: AbortSignal;
  /** accepted for fetch compatibility; redirects are never followed */
  redirect?: "manual";
}

export interface RestResponse {
  readonly status: number;
  readonly ok: boolean;
  readonly statusText: string;
  readonly url: string;
  readonly headers: { get(name: string): string | null };
  text(): Promise<string>;
  json(): Promise<unknown>;
  /** the body is read whole before the answer is returned: cancelling is a no-op kept for fetch's callers */
  readonly body: { cancel(): Promise<void> };
}

const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };
const noBody = { cancel: async () => {} };
const RESET = ["ECONNRESET", "EPIPE"];

function answer(res: IncomingMessage, url: string, bytes: Buffer): RestResponse {
  const status = res.statusCode ?? 0;
  const text = () => bytes.toString("utf8");
  return {
    status,
    ok: status >= 200 && status < 300,
    statusText: res.statusMessage ?? "",
    url,
    headers: {
      get(name) {
        const v = res.headers[name.toLowerCase()];
        return v === undefined ? null : Array.isArray(v) ? v.join(", ") : String(v);
      },
    },
    text: async () => text(),
    json: async () => JSON.parse(text()),
    body: noBody,
  };
}

function once(target: URL, init: RestInit): Promise<{ res: RestResponse } | { error: Error; reused: boolean }> {
  const https = target.protocol === "https:";
  const send = https ? httpsRequest : httpRequest;
  const body = init.body === undefined ? undefined : typeof init.body === "string" ? Buffer.from(init.body) : init.body;
  const headers: Record<string, string | number> = { ...(init.headers ?? {}) };
  if (body !== undefined) headers["Content-Length"] = body.length;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (v: { res: RestResponse } | { error: Error; reused: boolean }) => {
      if (settled) return;
      settled = true;
      init.signal?.removeEventListener("abort", onAbort);
      resolve(v);
    };
    const req = send(target, { method: init.method ?? "GET", headers, agent: https ? agents.https : agents.http }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => finish({ res: answer(res, target.toString(), Buffer.concat(chunks)) }));
      res.on("error", (e) => finish({ error: e, reused: false }));
    });
    const onAbort = () => {
      const reason = init.signal?.reason;
      req.destroy();
      finish({ error: reason instanceof Error ? reason : new DOMException("This operation was aborted", "AbortError"), reused: false });
    };
    if (init.signal?.aborted) return onAbort();
    init.signal?.addEventListener("abort", onAbort, { once: true });
    req.on("error", (e) => finish({ error: e, reused: req.reusedSocket }));
    req.end(body);
  });
}

export async function restFetch(url: string | URL, init: RestInit = {}): Promise<RestResponse> {
  const target = new URL(url);
  let r = await once(target, init);
  // A kept-alive connection the server closed while idle fails before it carries the request
  // (reset, or a write into the closed socket): it is sent once more on a new connection, as
  // Node's documentation advises.
  if ("error" in r && r.reused && RESET.includes((r.error as NodeJS.ErrnoException).code ?? "")) r = await once(target, init);
  if ("res" in r) return r.res;
  if (r.error.name === "TimeoutError" || r.error.name === "AbortError") throw r.error;
  throw new TypeError("fetch failed", { cause: r.error });
}
