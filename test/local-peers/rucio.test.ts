// The local Rucio answers the REST subset the placement function uses like Rucio does: userpass
// tokens in headers, replica registration (201/409/404), rules (201 with ids, 409 duplicate or
// bad expression, 404 unknown DID), lifetimes that expire, errors as ExceptionClass/Message.
import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startService, type RunningService } from "../support/service.ts";

describe("local Rucio peer", function () {
  this.timeout(30_000);
  let dir: string;
  let svc: RunningService;
  let base: string;
  let token: string;

  const auth = (password = "pw") => fetch(`${base}/auth/userpass`, { headers: { "X-Rucio-Account": "root", "X-Rucio-Username": "ddmadmin", "X-Rucio-Password": password } });
  const call = (method: string, path: string, body?: unknown, tok = token) =>
    fetch(base + path, { method, headers: { "X-Rucio-Auth-Token": tok, ...(body ? { "Content-Type": "application/json" } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "rucio-peer-"));
    svc = await startService("local/rucio/main.ts", ["--port", "0", "--db", join(dir, "db.sqlite"), "--accounts", "root:ddmadmin:pw", "--rses", "BUF:type=buffer,TAPE1:type=archive,TAPE2:type=archive", "--scopes", "raw,user.x", "--transfer-delay-ms", "100"], { listeners: ["rucio"] });
    base = svc.urls.rucio!;
    const r = await auth();
    token = r.headers.get("x-rucio-auth-token")!;
  });
  after(async () => {
    await svc?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("userpass auth: token and expiry in headers; 401 CannotAuthenticate otherwise", async () => {
    const r = await auth();
    expect(r.status).to.equal(200);
    expect(r.headers.get("x-rucio-auth-token")).to.match(/^root-ddmadmin-/);
    const exp = Date.parse(r.headers.get("x-rucio-auth-token-expires")!);
    expect(exp - Date.now()).to.be.within(3500_000, 3600_000);
    const bad = await auth("wrong");
    expect(bad.status).to.equal(401);
    expect(bad.headers.get("exceptionclass")).to.equal("CannotAuthenticate");
    expect(((await bad.json()) as { ExceptionClass: string }).ExceptionClass).to.equal("CannotAuthenticate");
    expect((await call("GET", "/rules/x", undefined, "bogus")).status).to.equal(401);
  });

  it("replicas: 201 Created, 409 Duplicate, 404 unknown RSE or scope", async () => {
    const files = [{ scope: "raw", name: "/d/f1.nxs", bytes: 100, adler32: "0000abcd" }];
    const r = await call("POST", "/replicas", { rse: "BUF", files, ignore_availability: true });
    expect(r.status).to.equal(201);
    expect(await r.text()).to.equal("Created");
    const dup = await call("POST", "/replicas", { rse: "BUF", files });
    expect(dup.status).to.equal(409);
    expect(dup.headers.get("exceptionclass")).to.equal("Duplicate");
    expect((await call("POST", "/replicas", { rse: "NOPE", files })).status).to.equal(404);
    const scope = await call("POST", "/replicas", { rse: "BUF", files: [{ ...files[0], scope: "other" }] });
    expect(scope.status).to.equal(404);
    expect(scope.headers.get("exceptionclass")).to.equal("ScopeNotFound");
  });

  it("rules: 201 with rule ids; 409 DuplicateRule and InvalidRSEExpression; 404 unknown DID", async () => {
    const did = { scope: "raw", name: "/d/f1.nxs" };
    const r = await call("POST", "/rules/", { dids: [did], account: "root", copies: 2, rse_expression: "type=archive" });
    expect(r.status).to.equal(201);
    const ids = (await r.json()) as string[];
    expect(ids).to.have.length(1);
    expect(ids[0]).to.match(/^[0-9a-f]{32}$/);
    const dup = await call("POST", "/rules/", { dids: [did], account: "root", copies: 2, rse_expression: "type=archive" });
    expect(dup.status).to.equal(409);
    expect(dup.headers.get("exceptionclass")).to.equal("DuplicateRule");
    const badExpr = await call("POST", "/rules/", { dids: [did], account: "root", copies: 1, rse_expression: "type=disk" });
    expect(badExpr.status).to.equal(409);
    expect(badExpr.headers.get("exceptionclass")).to.equal("InvalidRSEExpression");
    const unknown = await call("POST", "/rules/", { dids: [{ scope: "raw", name: "/none" }], account: "root", copies: 1, rse_expression: "BUF" });
    expect(unknown.status).to.equal(404);
    // The simulated transfer makes both archive copies; then the rule is OK.
    await new Promise((res) => setTimeout(res, 400));
    const rule = (await (await call("GET", `/rules/${ids[0]}`)).json()) as { state: string };
    expect(rule.state).to.equal("OK");
    const reps = JSON.parse(await (await call("GET", `/replicas/raw/${encodeURIComponent("/d/f1.nxs")}`)).text());
    expect(Object.keys(reps.rses).sort()).to.deep.equal(["BUF", "TAPE1", "TAPE2"]);
  });

  it("a rule with a lifetime expires and releases the replica it alone protected", async () => {
    const did = { scope: "raw", name: "/d/f2.nxs" };
    await call("POST", "/replicas", { rse: "BUF", files: [{ ...did, bytes: 5, adler32: "00000001" }] });
    await call("POST", "/rules/", { dids: [did], account: "root", copies: 1, rse_expression: "TAPE1" });
    const r = await call("POST", "/rules/", { dids: [did], account: "root", copies: 1, rse_expression: "BUF", lifetime: 1 });
    const [id] = (await r.json()) as string[];
    const rule = (await (await call("GET", `/rules/${id}`)).json()) as { expires_at: string; state: string };
    expect(rule.state).to.equal("OK");
    await new Promise((res) => setTimeout(res, 1300));
    expect((await call("GET", `/rules/${id}`)).status).to.equal(404);
    const reps = JSON.parse(await (await call("GET", `/replicas/raw/${encodeURIComponent("/d/f2.nxs")}`)).text());
    expect(Object.keys(reps.rses)).to.deep.equal(["TAPE1"]);
  });

  it("a rule for another account is refused", async () => {
    const r = await call("POST", "/rules/", { dids: [{ scope: "raw", name: "/d/f1.nxs" }], account: "someone", copies: 1, rse_expression: "BUF" });
    expect(r.status).to.equal(401);
    expect(r.headers.get("exceptionclass")).to.equal("AccessDenied");
  });
});
