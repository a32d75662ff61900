// The HTTP front: reads and parses request bodies, hands a small request object to the router and
// writes its reply as JSON; any error becomes OpenWhisk's `{"error", "code"}` body. No routing here.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import { ApiError } from "../errors.ts";

// Action code may be up to 48 MB, and base64 grows it by a third.
const MAX_BODY_BYTES = 70 * 1024 * 1024;

export interface ApiRequest {
  method: string;
  /** decoded path segments, e.g. ["api","v1","namespaces","guest","actions","hello"] */
  segments: string[];
  /** true when the raw path ended with "/" (GET /actions/pkg/ lists a package) */
  trailingSlash: boolean;
  query: URLSearchParams;
  headers: IncomingMessage["headers"];
  body: unknown;
  /** OpenWhisk calls it the transaction id: it is the `code` of every error body */
  tid: string;
}

export interface ApiReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type Router = (req: ApiRequest) => ApiReply | Promise<ApiReply>;

export function createApiServer(router: Router, log: (line: string) => void): Server {
  const server = createServer((req, res) => {
    void handle(req, res, router, log);
  });
  server.keepAliveTimeout = 65_000;
  return server;
}

async function handle(req: IncomingMessage, res: ServerResponse, router: Router, log: (line: string) => void): Promise<void> {
  const tid = randomUUID().replaceAll("-", "");
  try {
    const url = new URL(req.url ?? "/", "http://localhost");
    const raw = url.pathname;
    let segments: string[];
    try {
      segments = raw.split("/").filter((s) => s.length > 0).map(decodeURIComponent);
    } catch {
      throw new ApiError(400, `The request path ${raw} is not valid URL encoding.`);
    }
    const body = await readBody(req);
    const reply = await router({
      method: req.method ?? "GET",
      segments,
      trailingSlash: raw.endsWith("/") && raw.length > 1,
      query: url.searchParams,
      headers: req.headers,
      body,
      tid,
    });
    send(res, reply.status, reply.body, reply.headers);
  } catch (e) {
    if (e instanceof ApiError) {
      send(res, e.status, { error: e.message, code: tid }, e.headers);
    } else {
      log(`internal error ${tid}: ${(e as Error)?.stack ?? e}`);
      send(res, 500, { error: "The server encountered an internal error; its log has the details.", code: tid });
    }
  }
}

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      // Past the limit keep draining (so the client reads our 413 instead of a reset connection).
      if (size <= MAX_BODY_BYTES) chunks.push(c);
    });
    req.on("error", reject);
    req.on("end", () => {
      if (size > MAX_BODY_BYTES) {
        return reject(new ApiError(413, `The request content is larger than allowed: ${size} > ${MAX_BODY_BYTES} bytes.`));
      }
      if (size === 0) return resolve(undefined);
      const text = Buffer.concat(chunks).toString("utf8");
      if (text.trim() === "") return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch (e) {
        reject(new ApiError(400, `The request content was malformed:\n${(e as Error).message}`));
      }
    });
  });
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const text = status === 204 || body === undefined ? "" : JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    ...(text ? { "content-type": "application/json", "content-length": Buffer.byteLength(text) } : { "content-length": 0 }),
  });
  res.end(text);
}
