// The frontend's HTTP routing: /api/v1/namespace/… and /api/v1/events/…, both behind authentication.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Account, Authenticator } from "./accounts.ts";
import { HttpError } from "../../lib/http/server.ts";
import { sendJsonError } from "./http.ts";

export type RouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL, rest: string, account: Account) => Promise<void>;

export function createFrontendHandler(deps: {
  auth: Authenticator;
  namespace: RouteHandler;
  events: RouteHandler;
  log: (line: string) => void;
}) {
  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? "/", "http://localhost");
      // The raw path, not URL.pathname: the URL parser would silently resolve "..".
      const rawPath = (req.url ?? "/").split("?")[0]!;
      const m = /^\/api\/v1\/(namespace|events)(\/.*)?$/.exec(rawPath);
      if (!m) return sendJsonError(res, 404, `no such resource ${url.pathname}; this frontend serves /api/v1/namespace and /api/v1/events`);
      const who = deps.auth.authenticate(req, url);
      if (!("account" in who)) {
        const why = "anonymous" in who ? "anonymous access not allowed: use HTTP Basic, a bearer token or ?authz=" : who.rejected;
        return sendJsonError(res, 401, why, { "WWW-Authenticate": 'Basic realm="dCache"' });
      }
      const rest = m[2] ?? "";
      if (m[1] === "namespace") return await deps.namespace(req, res, url, rest, who.account);
      return await deps.events(req, res, url, rest, who.account);
    } catch (e) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (e instanceof HttpError) return sendJsonError(res, e.status, e.message, e.headers);
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return sendJsonError(res, 404, "File not found");
      if (code === "EACCES" || code === "EPERM") return sendJsonError(res, 403, "Permission denied by the local file system");
      deps.log(`frontend: ${req.method} ${req.url?.split("?")[0]} failed: ${(e as Error).stack ?? e}`);
      sendJsonError(res, 500, "internal error in the frontend; see the server log");
    }
  };
}
