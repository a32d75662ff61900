// A loopback HTTP server that records every REST call a client makes and answers as OpenWhisk's
// controller would for the calls `serverless deploy/remove` make (PUT entities, feed invokes, rule
// state, the info step's lists). It executes nothing: it is for asserting what a client sends.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export const GUEST_KEY = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP";

export interface RecordedCall {
  method: string;
  path: string;
  query: Record<string, string>;
  body: any;
  auth?: string;
}

export interface RecordingOpenWhisk {
  url: string;
  calls: RecordedCall[];
  /** when set, blocking invokes of this action answer 502 with this application error */
  failAction?: { path: string; error: string };
  close(): Promise<void>;
}

const activation = (name: string, result: unknown, success: boolean) => ({
  namespace: "guest",
  name,
  activationId: "4f0b0d3c9a0e4e8cb0d3c9a0e4e8cb0d",
  start: Date.now(),
  end: Date.now(),
  duration: 1,
  response: { result, status: success ? "success" : "application error", success },
  logs: [],
  annotations: [],
});

export async function startRecordingOpenWhisk(): Promise<RecordingOpenWhisk> {
  const calls: RecordedCall[] = [];
  const rec: RecordingOpenWhisk = { url: "", calls, close: async () => {} };
  const server: Server = createServer((req, res) => {
    let raw = "";
    req.on("data", (d) => (raw += d));
    req.on("end", () => {
      const u = new URL(req.url!, "http://x");
      const auth = req.headers.authorization?.startsWith("Basic ")
        ? Buffer.from(req.headers.authorization.slice(6), "base64").toString()
        : undefined;
      let body: any;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        body = raw;
      }
      const path = decodeURIComponent(u.pathname);
      calls.push({ method: req.method!, path, query: Object.fromEntries(u.searchParams), body, auth });
      const send = (status: number, payload: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(payload));
      };
      if (auth !== GUEST_KEY) return send(401, { error: "The supplied authentication is invalid", code: "t1" });
      if (path === "/api/v1/namespaces") return send(200, ["guest"]);
      if (path.startsWith("/api/v1/web/whisk.system/apimgmt/getApi")) return send(200, { apis: [] });
      const m = path.match(/^\/api\/v1\/namespaces\/([^/]+)\/(actions|triggers|rules|packages)(?:\/(.+))?$/);
      if (!m) return send(404, { error: "The requested resource does not exist.", code: "t2" });
      const [, , kind, name] = m;
      if (req.method === "GET") return send(200, name ? { name } : []);
      if (req.method === "PUT") return send(200, { namespace: "guest", name, version: "0.0.1", ...body });
      if (req.method === "DELETE") return send(200, { namespace: "guest", name });
      if (req.method === "POST" && kind === "actions") {
        if (rec.failAction && path.endsWith(rec.failAction.path)) {
          return send(502, activation(name!, { error: rec.failAction.error }, false));
        }
        return send(200, activation(name!, { status: "success" }, true));
      }
      if (req.method === "POST") return send(200, { status: "ok" });
      send(405, { error: "method not allowed", code: "t3" });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  rec.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  rec.close = () => new Promise((r) => server.close(() => r()));
  return rec;
}
