// What the local dCache says on the wire its own way: the frontend's error body, and the base URL a
// client reached it by. Bodies, replies and errors come from the shared toolkit (lib/http/server.ts).
import type { IncomingMessage, ServerResponse } from "node:http";
import { sendJson } from "../../lib/http/server.ts";

/** dCache's frontend reports errors as {"errors":[{"message","status"}]}. */
export function sendJsonError(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { errors: [{ message, status: String(status) }] }, headers);
}

/** The base URL a client used to reach us (for Location headers and subscription URLs). */
export function baseUrlOf(req: IncomingMessage, fallback: string): string {
  const host = req.headers.host;
  return host && /^[\w.\-:[\]]+$/.test(host) ? `http://${host}` : fallback;
}
