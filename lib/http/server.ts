// The small HTTP toolkit of our servers — the local OpenWhisk, dCache, SciCat and Rucio, and the feed
// provider's API: one error type with a code from one documented list (docs/errors.md), bounded body
// reading, JSON and text replies, and the command-line option and ready-line conventions of the local
// services. The local peers keep their real counterpart's error body on the wire (OpenWhisk's
// {"error","code"}, dCache's {"errors":[…]}, Rucio's ExceptionClass headers, SciCat's
// {"statusCode","message"}); the feed provider's own API answers {"error", "code"}.
import type { IncomingMessage, Server, ServerResponse } from "node:http";

/** Every error our servers answer with, by code: the HTTP status each one carries. */
export const ERROR_CODES = {
  BAD_REQUEST: 400,
  BODY_NOT_JSON: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  GONE: 410,
  BODY_TOO_LARGE: 413,
  RANGE_NOT_SATISFIABLE: 416,
  TOO_MANY_REQUESTS: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
} as const;
export type ErrorCode = keyof typeof ERROR_CODES;

/** The code of a status that no more specific code names. */
function codeOf(status: number): ErrorCode {
  const found = (Object.entries(ERROR_CODES) as [ErrorCode, number][]).find(([c, s]) => s === status && c !== "BODY_NOT_JSON");
  return found ? found[0] : status >= 500 ? "INTERNAL" : "BAD_REQUEST";
}

/** A request that cannot be served: its status, what was wrong and what to do, and its code. */
export class HttpError extends Error {
  readonly code: ErrorCode;

  constructor(
    readonly status: number,
    message: string,
    readonly options: { code?: ErrorCode; headers?: Record<string, string>; body?: unknown } = {},
  ) {
    super(message);
    this.code = options.code ?? codeOf(status);
  }

  /** the body a server sends as it is, when its real counterpart words errors its own way */
  get body(): unknown {
    return this.options.body;
  }

  get headers(): Record<string, string> {
    return this.options.headers ?? {};
  }
}

export interface BodyLimits {
  /** bytes; more is BODY_TOO_LARGE */
  limit: number;
  /** the 413 message (servers that word it as their real counterpart does) */
  tooLarge?: (size: number, limit: number) => string;
}

const defaultTooLarge = (size: number, limit: number) =>
  `request body of ${size} bytes is larger than the ${limit} bytes allowed; send less`;

/**
 * Reads a request body of at most `limit` bytes. A declared length past it is refused before a byte
 * is buffered; a chunked body past it is drained without being kept, so the client reads the 413
 * instead of a reset connection.
 */
export function readBody(req: IncomingMessage, o: BodyLimits): Promise<Buffer> {
  const tooLarge = o.tooLarge ?? defaultTooLarge;
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > o.limit)
    return Promise.reject(new HttpError(413, tooLarge(declared, o.limit), { code: "BODY_TOO_LARGE" }));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size <= o.limit) chunks.push(c);
    });
    req.on("error", reject);
    req.on("end", () => {
      if (size > o.limit) return reject(new HttpError(413, tooLarge(size, o.limit), { code: "BODY_TOO_LARGE" }));
      resolve(Buffer.concat(chunks));
    });
  });
}

/** Parses a JSON body; an empty one gives `undefined`, a malformed one BODY_NOT_JSON. */
export function parseJsonBody(
  raw: Buffer,
  malformed = (why: string) => `request body is not valid JSON (${why}); send a JSON document`,
): unknown {
  const text = raw.toString("utf8").trim();
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, malformed((e as Error).message), { code: "BODY_NOT_JSON" });
  }
}

const DEFAULT_LIMITS: BodyLimits = { limit: 4 * 1024 * 1024 };

export async function readJson(req: IncomingMessage, o: BodyLimits = DEFAULT_LIMITS): Promise<unknown> {
  return parseJsonBody(await readBody(req, o));
}

export async function readText(req: IncomingMessage, o: BodyLimits = DEFAULT_LIMITS): Promise<string> {
  return (await readBody(req, o)).toString("utf8");
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const text = status === 204 || body === undefined ? "" : JSON.stringify(body);
  res.writeHead(status, { ...headers, ...(text ? { "Content-Type": "application/json" } : {}), "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

export function sendText(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const text = message.endsWith("\n") ? message : `${message}\n`;
  res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8", "Content-Length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** `--name value` / `--name=value` options with environment fallbacks. */
export function option(argv: string[], name: string, env: string | undefined, fallback: string): string {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === `--${name}`) return argv[i + 1] ?? fallback;
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return env ?? fallback;
}

/** Prints the ready line (`listening <name> http://host:port`, which the stack waits for) and stops cleanly on SIGTERM/SIGINT. */
export function announce(name: string, server: Server, onStop: () => void): void {
  const addr = server.address();
  if (!addr || typeof addr === "string") throw new Error(`${name}: server has no TCP address`);
  const host = addr.address === "::" || addr.address === "0.0.0.0" ? "127.0.0.1" : addr.address;
  console.log(`listening ${name} http://${host}:${addr.port}`);
  const stop = () => {
    server.close(() => {
      onStop();
      process.exit(0);
    });
    server.closeAllConnections();
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}
