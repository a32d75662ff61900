// Small HTTP helpers of the local SciCat peer (the local Rucio peer uses them too).
import type { IncomingMessage, ServerResponse } from "node:http";

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = body === undefined ? "" : JSON.stringify(body);
  res.writeHead(status, { ...(text ? { "Content-Type": "application/json" } : {}), "Content-Length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly body?: unknown) {
    super(message);
  }
}

/** Reads a JSON body (at most `limit` bytes); malformed JSON is a 400. */
export async function readJson(req: IncomingMessage, limit = 4 * 1024 * 1024): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError(413, `request body larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8").trim();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, "request body is not valid JSON");
  }
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

/** Prints the ready line and stops cleanly on SIGTERM/SIGINT. */
export function announce(name: string, server: import("node:http").Server, onStop: () => void): void {
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
