// A loopback stand-in for OpenWhisk's trigger API, for fault injection in the provider's delivery
// tests: it answers GET and POST /api/v1/namespaces/{ns}/triggers/{name} as the contract says
// (Basic auth, `_` = the caller's namespace, 404/401 bodies), and lets a test decide the answer to
// each fire (429 with Retry-After, 503, 404 …). Accepted fires are recorded in order. As OpenWhisk
// does, an accepted fire leaves a trigger activation whose logs name one rule's activation, which
// succeeds (GET /activations/{id}), so the provider's ledger can follow each fire to its outcome.
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export const GUEST_KEY = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP";

export interface FireAnswer {
  status: number;
  headers?: Record<string, string>;
}

export interface Fire {
  trigger: string;
  status: number;
  body: { events: { id: string; subject: string; data: Record<string, unknown> }[] };
  at: number;
}

export class OpenWhiskStandIn {
  readonly triggers = new Set<string>();
  /** every fire attempt with the answer given */
  readonly attempts: Fire[] = [];
  /** decides each fire's answer; default 202 */
  answer: (trigger: string, attempt: number) => FireAnswer = () => ({ status: 202 });
  private server?: Server;
  private readonly activations = new Map<string, unknown>();
  url = "";

  constructor(
    readonly key = GUEST_KEY,
    readonly namespace = "guest",
  ) {}

  accepted(trigger?: string): Fire[] {
    return this.attempts.filter((f) => (f.status === 202 || f.status === 204) && (!trigger || f.trigger === trigger));
  }

  acceptedEvents(trigger?: string) {
    return this.accepted(trigger).flatMap((f) => f.body.events);
  }

  async start(): Promise<void> {
    const expected = `Basic ${Buffer.from(this.key).toString("base64")}`;
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        const send = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
          res.writeHead(status, { "content-type": "application/json", ...headers });
          res.end(body === undefined ? undefined : JSON.stringify(body));
        };
        const act = /^\/api\/v1\/namespaces\/[^/]+\/activations\/([^/?]+)/.exec(req.url ?? "");
        if (act && req.method === "GET") {
          if (req.headers.authorization !== expected) return send(401, { error: "The supplied authentication is invalid", code: "x" });
          const doc = this.activations.get(act[1]!);
          return doc ? send(200, doc) : send(404, { error: "The requested resource does not exist.", code: "x" });
        }
        const m = /^\/api\/v1\/namespaces\/([^/]+)\/triggers\/([^/?]+)/.exec(req.url ?? "");
        if (!m) return send(404, { error: "The requested resource does not exist.", code: "x" });
        if (req.headers.authorization !== expected) return send(401, { error: "The supplied authentication is invalid", code: "x" });
        const ns = m[1] === "_" ? this.namespace : decodeURIComponent(m[1]!);
        const name = decodeURIComponent(m[2]!);
        if (ns !== this.namespace)
          return send(403, { error: "The supplied authentication is not authorized to access this resource.", code: "x" });
        const exists = this.triggers.has(name);
        if (req.method === "GET") {
          if (!exists) return send(404, { error: "The requested resource does not exist.", code: "x" });
          return send(200, { namespace: ns, name, parameters: [], limits: {}, version: "0.0.1", publish: false, annotations: [] });
        }
        if (req.method === "POST") {
          const n = this.attempts.filter((f) => f.trigger === name).length;
          const a: FireAnswer = exists ? this.answer(name, n) : { status: 404 };
          this.attempts.push({
            trigger: name,
            status: a.status,
            body: JSON.parse(Buffer.concat(chunks).toString() || "{}"),
            at: Date.now(),
          });
          if (a.status === 202) {
            const activationId = randomBytes(16).toString("hex");
            const ruleRun = randomBytes(16).toString("hex");
            this.activations.set(activationId, {
              activationId,
              name,
              logs: [JSON.stringify({ statusCode: 0, success: true, activationId: ruleRun, rule: `${ns}/rule`, action: `${ns}/action` })],
              response: { success: true, status: "success", result: {} },
            });
            this.activations.set(ruleRun, {
              activationId: ruleRun,
              name: "action",
              logs: [],
              response: { success: true, status: "success", result: {} },
            });
            return send(202, { activationId }, a.headers);
          }
          if (a.status === 204) return send(204, undefined, a.headers);
          const msg =
            a.status === 404
              ? "The requested resource does not exist."
              : a.status === 429
                ? "Too many requests in the last minute (count: 61, allowed: 60)."
                : "Service unavailable";
          return send(a.status, { error: msg, code: "x" }, a.headers);
        }
        send(405, { error: "method not allowed", code: "x" });
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
