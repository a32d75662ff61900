// The frontend's namespace resource and ADLER32 values checked against zlib (python3).
import { expect } from "chai";
import { execFile, execFileSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, rmSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { mkdtempSync } from "node:fs";
import { auth, raw, startStorage, type Storage } from "./support.ts";

function zlibAdler32(file: string): string {
  return execFileSync("python3", [
    "-c",
    "import sys,zlib\na=1\nf=open(sys.argv[1],'rb')\nwhile True:\n b=f.read(1<<24)\n if not b: break\n a=zlib.adler32(b,a)\nprint('%08x'%a)",
    file,
  ])
    .toString()
    .trim();
}

describe("local dCache: namespace API", function () {
  this.timeout(120_000);
  let s: Storage;
  let accountsDir = "";
  before(async () => {
    accountsDir = mkdtempSync(join(tmpdir(), "dcache-accounts-"));
    const dir = accountsDir;
    const accounts = join(dir, "accounts.json");
    writeFileSync(
      accounts,
      JSON.stringify({
        accounts: [
          { username: "demo", password: "demo", uid: 1000, home: "/" },
          { username: "alice", password: "wonderland", uid: 1001, home: "/users/alice", tokens: ["alice-token-123"] },
        ],
      }),
    );
    s = await startStorage(["--accounts", accounts]);
    mkdirSync(join(s.root, "users/alice"), { recursive: true });
    mkdirSync(join(s.root, "scan"));
    for (const n of ["c.txt", "a.nxs", "b.h5"]) writeFileSync(join(s.root, "scan", n), `data of ${n}`);
    mkdirSync(join(s.root, "scan/sub"));
  });
  after(async () => {
    if (accountsDir) rmSync(accountsDir, { recursive: true, force: true });
    if (process.env.DEBUG_DCACHE) console.log(s?.svc.output());
    await s?.stop();
  });

  const get = (path: string, headers = auth()) => raw(s.frontend, "GET", path, { headers });

  it("describes a file with dCache's field names", async () => {
    const r = await get("/api/v1/namespace/scan/a.nxs");
    expect(r.status).to.equal(200);
    expect(r.headers["content-type"]).to.match(/application\/json/);
    const a = JSON.parse(r.text);
    expect(a).to.include({ fileType: "REGULAR", size: "data of a.nxs".length, nlink: 1, fileMimeType: "application/x-hdf5" });
    expect(a.pnfsId).to.match(/^[0-9A-F]{36}$/i);
    for (const k of ["mtime", "creationTime"]) expect(a[k]).to.be.a("number").greaterThan(1.6e12);
    expect(a).to.not.have.property("checksums");
    expect(a).to.not.have.property("children");
  });

  it("lists children sorted by name, with limit and offset", async () => {
    const all = JSON.parse((await get("/api/v1/namespace/scan?children=true")).text);
    expect(all.fileType).to.equal("DIR");
    expect(all.children.map((c: { fileName: string }) => c.fileName)).to.deep.equal(["a.nxs", "b.h5", "c.txt", "sub"]);
    expect(all.children[3].fileType).to.equal("DIR");
    const page = JSON.parse((await get("/api/v1/namespace/scan?children=true&offset=1&limit=2")).text);
    expect(page.children.map((c: { fileName: string }) => c.fileName)).to.deep.equal(["b.h5", "c.txt"]);
    const root = JSON.parse((await get("/api/v1/namespace/?children=true")).text);
    expect(root.children.map((c: { fileName: string }) => c.fileName)).to.include("scan");
  });

  it("adds ADLER32 checksums with checksum=true (also for children)", async () => {
    const a = JSON.parse((await get("/api/v1/namespace/scan/c.txt?checksum=true")).text);
    expect(a.checksums).to.deep.equal([{ type: "ADLER32", value: zlibAdler32(join(s.root, "scan/c.txt")) }]);
    const d = JSON.parse((await get("/api/v1/namespace/scan?children=true&checksum=true")).text);
    expect(d).to.not.have.property("checksums");
    expect(d.children[0].checksums[0].value).to.equal(zlibAdler32(join(s.root, "scan/a.nxs")));
  });

  it("answers 404 for a missing path, 400 for a bad limit or traversal, 401 anonymously", async () => {
    expect((await get("/api/v1/namespace/scan/nothing")).status).to.equal(404);
    const bad = await get("/api/v1/namespace/scan?children=true&limit=-1");
    expect(bad.status).to.equal(400);
    expect(JSON.parse(bad.text).errors[0].message).to.match(/limit/);
    expect((await get("/api/v1/namespace/../etc")).status).to.equal(400);
    expect((await get("/api/v1/namespace/scan/%2e%2e/%2e%2e/etc")).status).to.equal(400);
    const anon = await get("/api/v1/namespace/scan", {} as ReturnType<typeof auth>);
    expect(anon.status).to.equal(401);
    expect(JSON.parse(anon.text).errors[0].status).to.equal("401");
  });

  it("confines a user to its home: 403 outside it, 200 inside (Basic, Bearer and ?authz=)", async () => {
    const alice = { Authorization: `Basic ${Buffer.from("alice:wonderland").toString("base64")}` };
    expect((await get("/api/v1/namespace/scan", alice)).status).to.equal(403);
    expect((await get("/api/v1/namespace/users/alice", alice)).status).to.equal(200);
    expect((await get("/api/v1/namespace/users/alice", { Authorization: "Bearer alice-token-123" })).status).to.equal(200);
    expect((await raw(s.frontend, "GET", "/api/v1/namespace/users/alice?authz=alice-token-123")).status).to.equal(200);
    expect((await raw(s.frontend, "GET", "/api/v1/namespace/users/alice?authz=wrong-token-000")).status).to.equal(401);
    expect((await raw(s.webdav, "GET", "/scan/a.nxs", { headers: alice })).status).to.equal(403);
  });

  describe("ADLER32 against zlib", () => {
    const files: Record<string, (f: string) => void> = {
      empty: (f) => writeFileSync(f, ""),
      small: (f) => writeFileSync(f, "Wikipedia"),
      "64KiB+1": (f) => writeFileSync(f, Buffer.from(Array.from({ length: 65537 }, (_, i) => (i * 7919) & 255))),
      "2GiB+7-sparse": (f) => {
        writeFileSync(f, "begin");
        const fd = openSync(f, "r+");
        const tail = Buffer.from("\xff\xfe data across 2 GiB", "latin1");
        writeSync(fd, tail, 0, tail.length, 2 * 1024 ** 3 - 13);
        closeSync(fd);
        truncateSync(f, 2 * 1024 ** 3 + 7);
      },
    };
    // zlib's values, computed by one python3 process while the storage computes its own
    let zlib: Promise<Record<string, string>>;
    before(() => {
      for (const [name, make] of Object.entries(files)) make(join(s.root, `adler-${name}.bin`));
      zlib = new Promise((resolve, reject) =>
        execFile(
          "python3",
          [
            "-c",
            "import sys,zlib,json\nout={}\nfor p in sys.argv[1:]:\n a=1\n f=open(p,'rb')\n while True:\n  b=f.read(1<<24)\n  if not b: break\n  a=zlib.adler32(b,a)\n out[p]='%08x'%a\nprint(json.dumps(out))",
            ...Object.keys(files).map((n) => join(s.root, `adler-${n}.bin`)),
          ],
          (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout))),
        ),
      );
    });
    for (const name of Object.keys(files)) {
      it(`${name}: namespace and WebDAV Digest equal zlib's`, async () => {
        const path = `/adler-${name}.bin`;
        const ns = JSON.parse((await get(`/api/v1/namespace${path}?checksum=true`)).text);
        const head = await raw(s.webdav, "HEAD", path, { headers: auth({ "Want-Digest": "adler32" }) });
        const expected = (await zlib)[join(s.root, path)];
        expect(ns.checksums[0].value).to.equal(expected);
        expect(head.headers.digest).to.equal(`adler32=${expected}`);
      });
    }
    it("a known value: adler32('Wikipedia') = 11e60398", async () => {
      expect((await zlib)[join(s.root, "adler-small.bin")]).to.equal("11e60398");
    });
    it("a ranged read beyond 2^31 bytes", async () => {
      const part = await raw(s.webdav, "GET", "/adler-2GiB+7-sparse.bin", {
        headers: auth({ Range: `bytes=${2 * 1024 ** 3 - 13}-${2 * 1024 ** 3 + 6}` }),
      });
      expect(part.status).to.equal(206);
      expect(part.headers["content-range"]).to.equal(`bytes ${2 * 1024 ** 3 - 13}-${2 * 1024 ** 3 + 6}/${2 * 1024 ** 3 + 7}`);
      expect(part.body.toString("latin1")).to.equal("\xff\xfe data across 2 GiB");
    });
  });
});
