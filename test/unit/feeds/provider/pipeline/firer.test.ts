// The fire stage (firer.ts) against an in-process HTTP handler on loopback that answers as OpenWhisk's
// controller does (contracts: POST /api/v1/namespaces/{ns}/triggers/{name} with Basic auth; 202
// `{"activationId"}` with an active rule, 204 without; errors as `{"error","code"}`). What delivery must
// do with each answer follows the reference feed providers: 429 is throttling (respect Retry-After),
// 5xx/408/409 and network failures are retried, a trigger or key that is gone (401/403/404/410)
// disables the registration, any other 4xx (400, 413) can never succeed for this payload.
import { expect } from "chai";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { classify, fireTrigger, type FireTarget } from "../../../../../feeds/provider/pipeline/firer.ts";

const KEY = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP";

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: string;
}

describe("feeds/provider fire stage: one POST to the trigger, OpenWhisk's answer classified", () => {
  let server: Server;
  let apihost: string;
  let seen: Seen[];
  /** the controller's answer to the next fire */
  let answer: (req: IncomingMessage, res: ServerResponse) => void;
  const target = (): FireTarget => ({ apihost, namespace: "guest", trigger: "files-closed", authKey: KEY });
  const owError =
    (status: number, error: string, headers: Record<string, string> = {}) =>
    (_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(JSON.stringify({ error, code: "4b1a2c3d" }));
    };

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        seen.push({
          method: req.method!,
          url: req.url!,
          authorization: req.headers.authorization,
          contentType: req.headers["content-type"],
          body: Buffer.concat(chunks).toString(),
        });
        answer(req, res);
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    apihost = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  beforeEach(() => {
    seen = [];
  });

  it("POSTs the body to /api/v1/namespaces/{ns}/triggers/{name} with the owner's key as Basic auth", async () => {
    answer = (_req, res) => {
      res.writeHead(202, { "content-type": "application/json" });
      res.end(JSON.stringify({ activationId: "0f4e2a1b9c8d7e6f5a4b3c2d1e0f9a8b" }));
    };
    const body = JSON.stringify({ events: [{ id: "1", subject: "/d/ü.nxs" }] });
    await fireTrigger({ ...target(), apihost: `${apihost}//` }, body, 5_000);
    expect(seen).to.have.length(1);
    const s = seen[0]!;
    expect(s.method).to.equal("POST");
    expect(s.url).to.equal("/api/v1/namespaces/guest/triggers/files-closed");
    const [user, pass] = Buffer.from(s.authorization!.replace(/^Basic /, ""), "base64")
      .toString()
      .split(":");
    expect(`${user}:${pass}`).to.equal(KEY);
    expect(s.contentType).to.match(/^application\/json/);
    expect(s.body).to.equal(body);
  });

  it("202 (a rule ran) is acknowledged, with the trigger activation's id", async () => {
    answer = (_req, res) => {
      res.writeHead(202, { "content-type": "application/json" });
      res.end(JSON.stringify({ activationId: "0f4e2a1b9c8d7e6f5a4b3c2d1e0f9a8b" }));
    };
    expect(await fireTrigger(target(), '{"events":[]}', 5_000)).to.deep.equal({
      kind: "acknowledged",
      status: 202,
      activationId: "0f4e2a1b9c8d7e6f5a4b3c2d1e0f9a8b",
    });
  });

  it("204 (no active rule, no body) is acknowledged too: the events are OpenWhisk's now", async () => {
    answer = (_req, res) => {
      res.writeHead(204);
      res.end();
    };
    const out = await fireTrigger(target(), '{"events":[]}', 5_000);
    expect(out.kind).to.equal("acknowledged");
    expect(out.status).to.equal(204);
    expect(out.kind === "acknowledged" && out.activationId).to.equal(undefined);
  });

  it("429 is throttling, with Retry-After in seconds or as an HTTP-date", async () => {
    answer = owError(429, "Too many requests in the last minute (count: 61, allowed: 60).", { "retry-after": "7" });
    expect(await fireTrigger(target(), "{}", 5_000)).to.deep.equal({
      kind: "throttled",
      status: 429,
      retryAfterMs: 7_000,
      message: "Too many requests in the last minute (count: 61, allowed: 60).",
    });
    const when = new Date(Date.now() + 30_000); // an HTTP-date drops the milliseconds
    answer = owError(429, "Too many requests", { "retry-after": when.toUTCString() });
    const dated = await fireTrigger(target(), "{}", 5_000);
    expect(dated.kind).to.equal("throttled");
    expect(dated.kind === "throttled" && dated.retryAfterMs).to.be.within(25_000, 30_000);
    answer = owError(429, "Too many requests");
    const bare = await fireTrigger(target(), "{}", 5_000);
    expect(bare.kind === "throttled" && bare.retryAfterMs).to.equal(undefined);
  });

  it("5xx, 408 and 409 are retried, keeping OpenWhisk's message and any Retry-After", async () => {
    for (const status of [500, 502, 503, 504, 408, 409]) {
      answer = owError(status, `controller says ${status}`, status === 503 ? { "retry-after": "3" } : {});
      const out = await fireTrigger(target(), "{}", 5_000);
      expect(out.kind, String(status)).to.equal("retry");
      expect(out.status).to.equal(status);
      expect(out.kind === "retry" && out.message).to.equal(`controller says ${status}`);
      expect(out.kind === "retry" && out.retryAfterMs).to.equal(status === 503 ? 3_000 : undefined);
    }
  });

  it("401, 403, 404 and 410 disable the registration: the trigger or the key is gone", async () => {
    for (const [status, msg] of [
      [401, "The supplied authentication is invalid."],
      [403, "The supplied authentication is not authorized to access this resource."],
      [404, "The requested resource does not exist."],
      [410, "gone"],
    ] as const) {
      answer = owError(status, msg);
      expect(await fireTrigger(target(), "{}", 5_000), String(status)).to.deep.equal({ kind: "disable", status, message: msg });
    }
  });

  it("other 4xx (400, 413) reject the batch: this payload can never be accepted", async () => {
    answer = owError(413, "Request larger than allowed: 1048577 > 1048576 bytes.");
    expect(await fireTrigger(target(), "{}", 5_000)).to.deep.equal({
      kind: "reject",
      status: 413,
      message: "Request larger than allowed: 1048577 > 1048576 bytes.",
    });
    answer = owError(400, "The request content was malformed.");
    expect((await fireTrigger(target(), "{}", 5_000)).kind).to.equal("reject");
  });

  it("a body that is not OpenWhisk's JSON error is quoted short, never whole", async () => {
    answer = (_req, res) => {
      res.writeHead(502, { "content-type": "text/html" });
      res.end(`<html>${"bad gateway ".repeat(500)}</html>`);
    };
    const out = await fireTrigger(target(), "{}", 5_000);
    expect(out.kind).to.equal("retry");
    const message = out.kind === "retry" ? out.message : "";
    expect(message).to.match(/^HTTP 502: <html>bad gateway/);
    expect(message.length).to.be.below(200);
    answer = owError(500, "x".repeat(5_000));
    const long = await fireTrigger(target(), "{}", 5_000);
    expect(long.kind === "retry" && long.message.length).to.be.at.most(300);
  });

  it("nobody listening is retried (status 0), saying OpenWhisk is unreachable", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const out = await fireTrigger({ ...target(), apihost: `http://127.0.0.1:${port}` }, "{}", 5_000);
    expect(out.kind).to.equal("retry");
    expect(out.status).to.equal(0);
    expect(out.kind === "retry" && out.message).to.match(/OpenWhisk unreachable: ECONNREFUSED/);
  });

  it("no answer within the fire timeout is retried, saying so", async () => {
    answer = () => {}; // the controller never answers
    const out = await fireTrigger(target(), "{}", 100);
    expect(out.kind).to.equal("retry");
    expect(out.status).to.equal(0);
    expect(out.kind === "retry" && out.message).to.match(/no answer within 100 ms/);
  });

  it("classify: every status lands where the contract says", () => {
    const kinds = (codes: number[]) => codes.map((c) => classify(c, "m").kind);
    expect(kinds([200, 201, 202, 204])).to.deep.equal(["acknowledged", "acknowledged", "acknowledged", "acknowledged"]);
    expect(kinds([429])).to.deep.equal(["throttled"]);
    expect(kinds([408, 409, 500, 503, 599])).to.deep.equal(["retry", "retry", "retry", "retry", "retry"]);
    expect(kinds([401, 403, 404, 410])).to.deep.equal(["disable", "disable", "disable", "disable"]);
    expect(kinds([400, 405, 413, 415, 422])).to.deep.equal(["reject", "reject", "reject", "reject", "reject"]);
    expect(classify(429, "slow down", 1500)).to.deep.equal({ kind: "throttled", status: 429, retryAfterMs: 1500, message: "slow down" });
  });
});
