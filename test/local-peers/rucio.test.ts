// The local Rucio answers the REST subset the placement and lifecycle functions use like Rucio does:
// userpass tokens in headers, replica registration (201/409/404, PFNs per RSE), rules (201 with ids,
// 409 duplicate or bad expression, 404 unknown DID), lifetimes that expire, rule update and delete,
// errors as ExceptionClass/Message. Its RSEs are folders: a rule copies bytes (checked against an
// ADLER32 computed here, independently), a bad copy makes the rule STUCK with a reason, and a
// replica no rule protects any more is deleted from its folder.
import { expect } from "chai";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startService, type RunningService } from "../support/service.ts";

describe("local Rucio peer", function () {
  this.timeout(30_000);
  let dir: string;
  let svc: RunningService;
  let base: string;
  let token: string;
  const buf = () => join(dir, "buffer");
  const PFN = "http://dcache.example:2880";

  /** ADLER32 straight from RFC 1950, byte by byte: the truth the copies are checked against. */
  const adler32 = (b: Uint8Array) => {
    let a = 1;
    let s2 = 0;
    for (const x of b) {
      a = (a + x) % 65521;
      s2 = (s2 + a) % 65521;
    }
    return ((s2 << 16) | a) >>> 0;
  };
  const hex = (n: number) => n.toString(16).padStart(8, "0");
  /** a file in the buffer folder, registered at BUF with its PFN */
  const bufferFile = async (name: string, content: Buffer, registered = hex(adler32(content))) => {
    mkdirSync(join(buf(), "d"), { recursive: true });
    writeFileSync(join(buf(), name), content);
    const r = await call("POST", "/replicas", {
      rse: "BUF",
      files: [{ scope: "raw", name, bytes: content.length, adler32: registered, pfn: PFN + name }],
    });
    expect(r.status).to.equal(201);
  };
  const rule = async (id: string) =>
    (await (await call("GET", `/rules/${id}`)).json()) as { state: string; error: string | null; expires_at: string | null };
  const until = async <T>(what: string, fn: () => Promise<T | undefined>, ms = 10_000): Promise<T> => {
    for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
      const v = await fn();
      if (v !== undefined) return v;
    }
    throw new Error(`timed out waiting for ${what}`);
  };
  const replicas = async (name: string, all = false) =>
    JSON.parse(await (await call("GET", `/replicas/raw/${encodeURIComponent(name)}${all ? "?all_states=True" : ""}`)).text()) as {
      rses: Record<string, string[]>;
      pfns: Record<string, { rse: string }>;
      states: Record<string, string>;
    };

  const auth = (password = "pw") =>
    fetch(`${base}/auth/userpass`, {
      headers: { "X-Rucio-Account": "root", "X-Rucio-Username": "ddmadmin", "X-Rucio-Password": password },
    });
  const call = (method: string, path: string, body?: unknown, tok = token) =>
    fetch(base + path, {
      method,
      headers: { "X-Rucio-Auth-Token": tok, ...(body ? { "Content-Type": "application/json" } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "rucio-peer-"));
    svc = await startService(
      "local/rucio/main.ts",
      [
        "--port",
        "0",
        "--db",
        join(dir, "db.sqlite"),
        "--accounts",
        "root:ddmadmin:pw",
        "--rses",
        "BUF:type=buffer,TAPE1:type=archive,TAPE2:type=archive",
        "--scopes",
        "raw,user.x",
        "--storage",
        JSON.stringify({ BUF: { dir: join(dir, "buffer"), pfn: PFN } }),
        "--storage-root",
        join(dir, "rses"),
        "--daemon-interval-ms",
        "50",
      ],
      { listeners: ["rucio"] },
    );
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
    const content = Buffer.from("f1 ".repeat(40));
    mkdirSync(join(buf(), "d"), { recursive: true });
    writeFileSync(join(buf(), "d/f1.nxs"), content);
    const files = [{ scope: "raw", name: "/d/f1.nxs", bytes: content.length, adler32: hex(adler32(content)) }];
    const r = await call("POST", "/replicas", { rse: "BUF", files: [{ ...files[0], pfn: `${PFN}/d/f1.nxs` }], ignore_availability: true });
    expect(r.status).to.equal(201);
    expect(await r.text()).to.equal("Created");
    // a PFN outside the RSE's own prefix is refused
    const outside = await call("POST", "/replicas", {
      rse: "BUF",
      files: [{ scope: "raw", name: "/d/x", bytes: 1, pfn: "file:///etc/passwd" }],
    });
    expect(outside.status).to.equal(400);
    expect(outside.headers.get("exceptionclass")).to.equal("InvalidPath");
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
    const unknown = await call("POST", "/rules/", {
      dids: [{ scope: "raw", name: "/none" }],
      account: "root",
      copies: 1,
      rse_expression: "BUF",
    });
    expect(unknown.status).to.equal(404);
    // The transfer daemon copies the bytes to both archive RSEs; then the rule is OK.
    await until("rule OK", async () => ((await rule(ids[0]!)).state === "OK" ? true : undefined));
    const reps = await replicas("/d/f1.nxs");
    expect(Object.keys(reps.rses).sort()).to.deep.equal(["BUF", "TAPE1", "TAPE2"]);
    const original = readFileSync(join(buf(), "d/f1.nxs"));
    for (const rse of ["TAPE1", "TAPE2"]) {
      const pfn = reps.rses[rse]![0]!;
      expect(pfn).to.equal(`file://${join(dir, "rses", rse)}/d/f1.nxs`);
      expect(reps.pfns[pfn]!.rse).to.equal(rse);
      const copy = readFileSync(new URL(pfn));
      expect(hex(adler32(copy))).to.equal(hex(adler32(original)));
      expect(copy.equals(original)).to.equal(true);
    }
    expect(reps.rses.BUF).to.deep.equal([`${PFN}/d/f1.nxs`]);
  });

  it("a copy whose ADLER32 differs from the registered one makes the rule STUCK, with the reason, and leaves no archive bytes", async () => {
    const content = Buffer.from("corrupted on the buffer");
    await bufferFile("/d/bad.nxs", content, "0badc0de");
    const [id] = (await (
      await call("POST", "/rules/", { dids: [{ scope: "raw", name: "/d/bad.nxs" }], account: "root", copies: 1, rse_expression: "TAPE1" })
    ).json()) as string[];
    const r = await until("rule STUCK", async () => {
      const x = await rule(id!);
      return x.state === "STUCK" ? x : undefined;
    });
    expect(r.error).to.match(/checksum mismatch .* ADLER32 [0-9a-f]{8}.*ADLER32 0badc0de/);
    expect(r.error).to.include(hex(adler32(content)));
    expect(Object.keys((await replicas("/d/bad.nxs", true)).rses)).to.deep.equal(["BUF"]);
    expect(existsSync(join(dir, "rses", "TAPE1", "d", "bad.nxs"))).to.equal(false);
  });

  it("a source whose bytes are gone makes the rule STUCK, saying so", async () => {
    await bufferFile("/d/gone.nxs", Buffer.from("soon gone"));
    rmSync(join(buf(), "d/gone.nxs"));
    const [id] = (await (
      await call("POST", "/rules/", { dids: [{ scope: "raw", name: "/d/gone.nxs" }], account: "root", copies: 1, rse_expression: "TAPE2" })
    ).json()) as string[];
    const r = await until("rule STUCK", async () => {
      const x = await rule(id!);
      return x.state === "STUCK" ? x : undefined;
    });
    expect(r.error).to.match(/source file missing/);
  });

  it("deleting the rule that protects the buffer copy gives it a tombstone: the reaper deletes its bytes, the archive copy stays", async () => {
    const content = Buffer.from("archive me, then free the buffer");
    await bufferFile("/d/cycle.nxs", content);
    const did = { scope: "raw", name: "/d/cycle.nxs" };
    const [protect] = (await (
      await call("POST", "/rules/", { dids: [did], account: "root", copies: 1, rse_expression: "BUF" })
    ).json()) as string[];
    expect((await rule(protect!)).state).to.equal("OK");
    const [archive] = (await (
      await call("POST", "/rules/", { dids: [did], account: "root", copies: 1, rse_expression: "TAPE1" })
    ).json()) as string[];
    await until("archive OK", async () => ((await rule(archive!)).state === "OK" ? true : undefined));
    // still protected: the buffer bytes stay
    await new Promise((r) => setTimeout(r, 300));
    expect(existsSync(join(buf(), "d/cycle.nxs"))).to.equal(true);
    const del = await call("DELETE", `/rules/${protect}`, { purge_replicas: false });
    expect(del.status).to.equal(200);
    expect((await call("GET", `/rules/${protect}`)).status).to.equal(404);
    await until("buffer replica reaped", async () =>
      Object.keys((await replicas("/d/cycle.nxs", true)).rses).join() === "TAPE1" ? true : undefined,
    );
    expect(existsSync(join(buf(), "d/cycle.nxs"))).to.equal(false);
    expect(hex(adler32(readFileSync(join(dir, "rses", "TAPE1", "d", "cycle.nxs"))))).to.equal(hex(adler32(content)));
  });

  it("PUT /rules/{id} sets a lifetime; when it ends, the rule goes and so does the replica only it protected", async () => {
    await bufferFile("/d/later.nxs", Buffer.from("keep for a second"));
    const [id] = (await (
      await call("POST", "/rules/", { dids: [{ scope: "raw", name: "/d/later.nxs" }], account: "root", copies: 1, rse_expression: "BUF" })
    ).json()) as string[];
    expect((await rule(id!)).expires_at).to.equal(null);
    const put = await call("PUT", `/rules/${id}`, { options: { lifetime: 1 } });
    expect(put.status).to.equal(200);
    expect(Date.parse((await rule(id!)).expires_at!) - Date.now()).to.be.within(0, 1100);
    const bad = await call("PUT", `/rules/${id}`, { options: { copies: 3 } });
    expect(bad.status).to.equal(409);
    await until("replica reaped", async () => (existsSync(join(buf(), "d/later.nxs")) ? undefined : true));
    expect((await call("GET", `/rules/${id}`)).status).to.equal(404);
  });

  it("a rule with a lifetime expires and releases the replica it alone protected", async () => {
    const did = { scope: "raw", name: "/d/f2.nxs" };
    await bufferFile(did.name, Buffer.from("f2f2f"));
    const [archive] = (await (
      await call("POST", "/rules/", { dids: [did], account: "root", copies: 1, rse_expression: "TAPE1" })
    ).json()) as string[];
    await until("archive OK", async () => ((await rule(archive!)).state === "OK" ? true : undefined));
    const r = await call("POST", "/rules/", { dids: [did], account: "root", copies: 1, rse_expression: "BUF", lifetime: 1 });
    const [id] = (await r.json()) as string[];
    expect((await rule(id!)).state).to.equal("OK");
    await new Promise((res) => setTimeout(res, 1300));
    expect((await call("GET", `/rules/${id}`)).status).to.equal(404);
    await until("buffer replica reaped", async () =>
      Object.keys((await replicas(did.name, true)).rses).join() === "TAPE1" ? true : undefined,
    );
    expect(existsSync(join(buf(), "d/f2.nxs"))).to.equal(false);
  });

  it("a rule for another account is refused", async () => {
    const r = await call("POST", "/rules/", {
      dids: [{ scope: "raw", name: "/d/f1.nxs" }],
      account: "someone",
      copies: 1,
      rse_expression: "BUF",
    });
    expect(r.status).to.equal(401);
    expect(r.headers.get("exceptionclass")).to.equal("AccessDenied");
  });
});
