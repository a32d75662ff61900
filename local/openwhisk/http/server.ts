// The HTTP front: reads and parses request bodies, hands a small request object to the router and
// writes its reply as JSON; any error becomes OpenWhisk's `{"error", "code"}` body. No routing here.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import { HttpError, parseJsonBody, readBody } from "../../../lib/http/server.ts";
import { ApiError, Messages } from "../errors.ts";

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
  /** the JSON body (undefined when empty); web action requests keep the raw bytes instead */
  body: unknown;
  rawBody?: Buffer;
  /** OpenWhisk calls it the transaction id: it is the `code` of every error body */
  tid: string;
}

export interface ApiReply {
  status: number;
  /** serialised as JSON, unless it is a Buffer or string and `raw` is set */
  body?: unknown;
  raw?: boolean;
  headers?: Record<string, string>;
}

export type Router = (req: ApiRequest) => ApiReply | Promise<ApiReply>;

/**
 * The most bytes a request's body may have, decided from its method, path and headers before the
 * body is read (undefined: the server's general limit). May throw an ApiError (e.g. 401), which is
 * answered without reading the body.
 */
export type BodyLimit = (req: Pick<ApiRequest, "method" | "segments" | "headers">) => number | undefined;

export function createApiServer(router: Router, log: (line: string) => void, bodyLimit: BodyLimit = () => undefined): Server {
  const server = createServer((req, res) => {
    void handle(req, res, router, log, bodyLimit);
  });
  server.keepAliveTimeout = 65_000;
  return server;
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  router: Router,
  log: (line: string) => void,
  bodyLimit: BodyLimit,
): Promise<void> {
  const tid = randomUUID().replaceAll("-", "");
  try {
    const url = new URL(req.url ?? "/", "http://localhost");
    const raw = url.pathname;
    let segments: string[];
    try {
      segments = raw
        .split("/")
        .filter((s) => s.length > 0)
        .map(decodeURIComponent);
    } catch {
      throw new ApiError(400, `The request path ${raw} is not valid URL encoding.`);
    }
    // Web actions take any content type: their bodies are interpreted by the web action handler.
    const web = segments[0] === "api" && segments[1] === "v1" && segments[2] === "web";
    const method = req.method ?? "GET";
    const limit = bodyLimit({ method, segments, headers: req.headers }) ?? MAX_BODY_BYTES;
    const rawBody = await readBody(req, { limit, tooLarge: Messages.requestTooLarge });
    const body = web ? undefined : parseJson(rawBody);
    const reply = await router({
      method,
      segments,
      trailingSlash: raw.endsWith("/") && raw.length > 1,
      query: url.searchParams,
      headers: req.headers,
      body,
      ...(web ? { rawBody } : {}),
      tid,
    });
    if (reply.raw) sendRaw(res, reply.status, reply.body as Buffer | string, reply.headers);
    else send(res, reply.status, reply.body, reply.headers);
  } catch (e) {
    if (e instanceof HttpError) {
      send(res, e.status, { error: e.message, code: tid }, e.headers);
    } else {
      log(`internal error ${tid}: ${(e as Error)?.stack ?? e}`);
      send(res, 500, { error: "The server encountered an internal error; its log has the details.", code: tid });
    }
  }
}

function parseJson(raw: Buffer): unknown {
  return parseJsonBody(raw, (why) => `The request content was malformed:\n${why}`);
}

function sendRaw(res: ServerResponse, status: number, body: Buffer | string | undefined, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const data = body === undefined || status === 204 ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(body);
  res.writeHead(status, { ...headers, "content-length": data.length });
  res.end(data);
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
