// The local SciCat answers the API v3 subset the way SciCat's backend does: login, bearer auth,
// required dataset fields (400), duplicate pid (409), unknown pid (404), encoded pids with "/",
// origdatablocks, token expiry, and it keeps its data in SQLite across restarts.
import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startService, type RunningService } from "../support/service.ts";

const dataset = (pid: string) => ({
  pid,
  owner: "ingestor",
  ownerGroup: "g",
  contactEmail: "a@b.c",
  sourceFolder: "/data",
  creationTime: "2026-11-28T10:00:00Z",
  principalInvestigator: "PI",
  creationLocation: "P11",
  type: "raw",
  datasetName: "run 1",
  size: 10,
  scientificMetadata: { a: 1 },
});

describe("local SciCat peer", function () {
  this.timeout(30_000);
  let dir: string;
  let svc: RunningService;
  let base: string;

  const login = async (username = "ingestor", password = "ingestor") =>
    fetch(`${base}/api/v3/auth/login`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username, password }),
    });
  const call = async (method: string, path: string, token: string, body?: unknown) =>
    fetch(base + path, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "scicat-peer-"));
    writeFileSync(
      join(dir, "users.json"),
      JSON.stringify([
        { username: "ingestor", password: "ingestor" },
        { username: "short", password: "pw" },
      ]),
    );
    svc = await startService("local/scicat/main.ts", ["--port", "0", "--db", join(dir, "db.sqlite"), "--users", join(dir, "users.json")], {
      listeners: ["scicat"],
    });
    base = svc.urls.scicat!;
  });
  after(async () => {
    await svc?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("login: 201 with access_token, expires_in, ttl, created, userId, user; 401 for a wrong password", async () => {
    const r = await login();
    expect(r.status).to.equal(201);
    const j = (await r.json()) as Record<string, unknown>;
    expect(j).to.include.keys("access_token", "id", "expires_in", "ttl", "created", "userId", "user");
    expect(j.access_token).to.equal(j.id);
    expect((await login("ingestor", "nope")).status).to.equal(401);
    expect((await login("nobody", "x")).status).to.equal(401);
  });

  it("datasets need a valid bearer token (401 otherwise)", async () => {
    expect((await call("GET", "/api/v3/datasets", "not-a-token")).status).to.equal(401);
    expect((await fetch(`${base}/api/v3/datasets`)).status).to.equal(401);
  });

  it("create (201), fetch by URL-encoded pid, duplicate pid (409), patch (200), unknown pid (404)", async () => {
    const token = ((await (await login()).json()) as { access_token: string }).access_token;
    const pid = "20.500.12269/0f2b6c1e-1111-4222-8333-944455556666";
    const created = await call("POST", "/api/v3/datasets", token, dataset(pid));
    expect(created.status).to.equal(201);
    expect(((await created.json()) as { pid: string }).pid).to.equal(pid);
    const got = await call("GET", `/api/v3/datasets/${encodeURIComponent(pid)}`, token);
    expect(got.status).to.equal(200);
    expect(await got.json()).to.include({ datasetName: "run 1", createdBy: "ingestor" });
    expect((await call("POST", "/api/v3/datasets", token, dataset(pid))).status).to.equal(409);
    const patched = await call("PATCH", `/api/v3/datasets/${encodeURIComponent(pid)}`, token, { datasetName: "run 1b" });
    expect(patched.status).to.equal(200);
    expect(await patched.json()).to.include({ datasetName: "run 1b", owner: "ingestor" });
    expect((await call("GET", `/api/v3/datasets/${encodeURIComponent("20.500.12269/nope")}`, token)).status).to.equal(404);
  });

  it("without pid the server makes PID_PREFIX/uuid", async () => {
    const token = ((await (await login()).json()) as { access_token: string }).access_token;
    const { pid: _p, ...noPid } = dataset("");
    const r = await call("POST", "/api/v3/datasets", token, noPid);
    expect(r.status).to.equal(201);
    expect(((await r.json()) as { pid: string }).pid).to.match(/^20\.500\.12269\/[0-9a-f-]{36}$/);
  });

  it("400 with a message list naming each missing required field", async () => {
    const token = ((await (await login()).json()) as { access_token: string }).access_token;
    const r = await call("POST", "/api/v3/datasets", token, { pid: "x/y", type: "weird" });
    expect(r.status).to.equal(400);
    const j = (await r.json()) as { message: string[] };
    expect(j.message)
      .to.include("owner should not be empty")
      .and.include("datasetName should not be empty")
      .and.include("type must be one of the following values: raw, derived");
  });

  it("derived datasets need investigator, inputDatasets, usedSoftware instead of the raw-only fields", async () => {
    const token = ((await (await login()).json()) as { access_token: string }).access_token;
    const { principalInvestigator: _pi, creationLocation: _cl, ...base } = dataset("20.500.12269/derived-1");
    const bad = await call("POST", "/api/v3/datasets", token, { ...base, type: "derived" });
    expect(bad.status).to.equal(400);
    expect(((await bad.json()) as { message: string[] }).message)
      .to.include("investigator should not be empty")
      .and.include("inputDatasets should not be empty");
    const ok = await call("POST", "/api/v3/datasets", token, {
      ...base,
      type: "derived",
      investigator: "PI",
      inputDatasets: ["20.500.12269/x"],
      usedSoftware: ["derive"],
    });
    expect(ok.status).to.equal(201);
  });

  it("origdatablocks: add (201) and list for the dataset; validation of the file list", async () => {
    const token = ((await (await login()).json()) as { access_token: string }).access_token;
    const pid = "20.500.12269/aaaaaaaa-1111-4222-8333-944455556666";
    await call("POST", "/api/v3/datasets", token, dataset(pid));
    const block = {
      size: 10,
      chkAlg: "adler32",
      dataFileList: [{ path: "run1.nxs", size: 10, time: "2026-11-28T10:00:00Z", chk: "0a0b0c0d" }],
    };
    const r = await call("POST", `/api/v3/datasets/${encodeURIComponent(pid)}/origdatablocks`, token, block);
    expect(r.status).to.equal(201);
    const list = (await (await call("GET", `/api/v3/datasets/${encodeURIComponent(pid)}/origdatablocks`, token)).json()) as any[];
    expect(list).to.have.length(1);
    expect(list[0]).to.include({ datasetId: pid, size: 10, ownerGroup: "g" });
    const bad = await call("POST", `/api/v3/datasets/${encodeURIComponent(pid)}/origdatablocks`, token, {
      size: 1,
      dataFileList: [{ path: 3 }],
    });
    expect(bad.status).to.equal(400);
    const upd = await call("PATCH", `/api/v3/origdatablocks/${list[0].id}`, token, {
      size: 11,
      dataFileList: [{ path: "run1.nxs", size: 11, time: "2026-11-28T10:00:00Z", chk: "0a0b0c0e" }],
    });
    expect(upd.status).to.equal(200);
  });

  it("keeps datasets across a restart (SQLite); tokens expire after --token-ttl", async () => {
    await svc.stop();
    svc = await startService(
      "local/scicat/main.ts",
      ["--port", "0", "--db", join(dir, "db.sqlite"), "--users", join(dir, "users.json"), "--token-ttl", "1"],
      { listeners: ["scicat"] },
    );
    base = svc.urls.scicat!;
    const j = (await (await login()).json()) as { access_token: string; expires_in: number };
    expect(j.expires_in).to.equal(1);
    const r = await call(
      "GET",
      `/api/v3/datasets/${encodeURIComponent("20.500.12269/0f2b6c1e-1111-4222-8333-944455556666")}`,
      j.access_token,
    );
    expect(r.status).to.equal(200);
    await new Promise((res) => setTimeout(res, 1100));
    expect((await call("GET", "/api/v3/datasets", j.access_token)).status).to.equal(401);
  });

  it("refuses bad options with a clear message", async () => {
    try {
      await startService("local/scicat/main.ts", ["--port", "99999"], { listeners: ["scicat"], timeoutMs: 8000 });
      expect.fail("must not start");
    } catch (e) {
      expect((e as Error).message).to.match(/--port must be 0…65535/);
    }
  });
});
