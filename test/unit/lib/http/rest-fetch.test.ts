// restFetch (lib/http/rest-fetch.ts) answers and fails as fetch() does for the callers that moved
// to it: status, headers and body; "fetch failed" with the system error as cause; the signal's
// TimeoutError; and a request on a kept-alive connection the server closed while idle is sent again.
import { expect } from "chai";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { restFetch } from "../../../../lib/http/rest-fetch.ts";

describe("restFetch", () => {
  let server: Server;
  let url: string;
  let requests = 0;
  /** the next request that comes on a connection used before is cut without an answer */
  let cutReused = false;
  const used = new WeakSet<object>();

  before(async () => {
    server = createServer((req, res) => {
      requests++;
      if (cutReused && used.has(req.socket)) {
        cutReused = false;
        return void req.socket.destroy();
      }
      used.add(req.socket);
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        if (req.url === "/slow") return void setTimeout(() => res.end("late"), 500);
        if (req.url === "/missing") {
          res.writeHead(404, { "content-type": "application/json", "x-reason": "gone" });
          return void res.end(JSON.stringify({ error: "not here" }));
        }
        res.writeHead(201, { "content-type": "application/json", location: "/datasets/1" });
        res.end(JSON.stringify({ method: req.method, body, auth: req.headers.authorization ?? null }));
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  it("sends method, headers and body; gives status, headers and the JSON answer", async () => {
    const res = await restFetch(`${url}/datasets`, { method: "POST", headers: { authorization: "Bearer t" }, body: '{"a":1}' });
    expect(res.status).to.equal(201);
    expect(res.ok).to.equal(true);
    expect(res.headers.get("Location")).to.equal("/datasets/1");
    expect(res.headers.get("x-none")).to.equal(null);
    expect(await res.json()).to.deep.equal({ method: "POST", body: '{"a":1}', auth: "Bearer t" });
  });

  it("an error status is an answer, not a failure", async () => {
    const res = await restFetch(`${url}/missing`);
    expect([res.status, res.ok, res.headers.get("x-reason")]).to.deep.equal([404, false, "gone"]);
    expect(await res.text()).to.equal('{"error":"not here"}');
  });

  it("nobody listening: TypeError 'fetch failed' with the system error as cause, as fetch()", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const err = await restFetch(`http://127.0.0.1:${port}/`).catch((e: Error & { cause?: { code?: string } }) => e);
    expect(err).to.be.instanceOf(TypeError);
    expect((err as TypeError).message).to.equal("fetch failed");
    expect((err as { cause?: { code?: string } }).cause?.code).to.equal("ECONNREFUSED");
  });

  it("a timed-out signal rejects with its TimeoutError", async () => {
    const err = await restFetch(`${url}/slow`, { signal: AbortSignal.timeout(50) }).catch((e: Error) => e);
    expect((err as Error).name).to.equal("TimeoutError");
  });

  it("a kept-alive connection the server dropped: the request goes again on a new one, once", async () => {
    await restFetch(`${url}/datasets`);
    // the server drops the kept-alive connection as the next request arrives on it (a keep-alive
    // timeout that ran out just then): the client sees a reset of a reused socket
    cutReused = true;
    const before = requests;
    const res = await restFetch(`${url}/datasets`, { method: "POST", body: "again" });
    expect(res.status).to.equal(201);
    expect(await res.json()).to.include({ method: "POST", body: "again" });
    expect(requests - before, "the cut request and the one sent again").to.equal(2);
  });
});
