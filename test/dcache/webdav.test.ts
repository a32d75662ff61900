// The WebDAV door of the local storage, over real HTTP against a real server process.
import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, symlinkSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
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

describe("local dCache: WebDAV door", () => {
  let s: Storage;
  before(async () => {
    s = await startStorage();
  });
  after(async () => {
    await s?.stop();
  });

  it("refuses anonymous requests and wrong passwords with 401 and a Basic challenge", async () => {
    const anon = await raw(s.webdav, "GET", "/");
    expect(anon.status).to.equal(401);
    expect(anon.headers["www-authenticate"]).to.match(/^Basic realm=/);
    const wrong = await raw(s.webdav, "GET", "/", { headers: { Authorization: `Basic ${Buffer.from("demo:nope").toString("base64")}` } });
    expect(wrong.status).to.equal(401);
    expect(wrong.text).to.not.include("nope");
    const bearer = await raw(s.webdav, "GET", "/", { headers: { Authorization: "Bearer demo-token" } });
    expect(bearer.status).to.equal(200);
  });

  it("MKCOL creates a directory: 201, 405 when it exists, 409 without a parent, 415 with a body", async () => {
    expect((await raw(s.webdav, "MKCOL", "/run1", { headers: auth() })).status).to.equal(201);
    expect(existsSync(join(s.root, "run1"))).to.equal(true);
    expect((await raw(s.webdav, "MKCOL", "/run1", { headers: auth() })).status).to.equal(405);
    expect((await raw(s.webdav, "MKCOL", "/nope/deeper", { headers: auth() })).status).to.equal(409);
    expect((await raw(s.webdav, "MKCOL", "/withbody", { headers: auth(), body: "<x/>" })).status).to.equal(415);
  });

  it("PUT stores the bytes (201, then 204 on overwrite), 409 without a parent, 405 onto a directory", async () => {
    const data = randomBytes(300_000);
    const put = await raw(s.webdav, "PUT", "/run1/a.bin", { headers: auth(), body: data });
    expect(put.status).to.equal(201);
    expect(readFileSync(join(s.root, "run1/a.bin")).equals(data)).to.equal(true);
    expect((await raw(s.webdav, "PUT", "/run1/a.bin", { headers: auth(), body: data })).status).to.equal(204);
    expect((await raw(s.webdav, "PUT", "/missing/a.bin", { headers: auth(), body: "x" })).status).to.equal(409);
    expect((await raw(s.webdav, "PUT", "/run1", { headers: auth(), body: "x" })).status).to.equal(405);
  });

  it("PUT with a wrong client Digest is refused and nothing is stored", async () => {
    const r = await raw(s.webdav, "PUT", "/run1/bad.bin", { headers: auth({ Digest: "adler32=00000001" }), body: "hello" });
    expect(r.status).to.equal(409);
    expect(r.text).to.match(/checksum mismatch/);
    expect(existsSync(join(s.root, "run1/bad.bin"))).to.equal(false);
    const ok = await raw(s.webdav, "PUT", "/run1/good.bin", { headers: auth({ Digest: "adler32=062c0215" }), body: "hello" });
    expect(ok.status).to.equal(201);
  });

  it("GET returns the file; Range gives 206 with Content-Range; 416 past the end", async () => {
    const data = readFileSync(join(s.root, "run1/a.bin"));
    const full = await raw(s.webdav, "GET", "/run1/a.bin", { headers: auth() });
    expect(full.status).to.equal(200);
    expect(full.headers["accept-ranges"]).to.equal("bytes");
    expect(full.body.equals(data)).to.equal(true);
    const part = await raw(s.webdav, "GET", "/run1/a.bin", { headers: auth({ Range: "bytes=1000-1999" }) });
    expect(part.status).to.equal(206);
    expect(part.headers["content-range"]).to.equal(`bytes 1000-1999/${data.length}`);
    expect(part.body.equals(data.subarray(1000, 2000))).to.equal(true);
    const tail = await raw(s.webdav, "GET", "/run1/a.bin", { headers: auth({ Range: "bytes=-10" }) });
    expect(tail.status).to.equal(206);
    expect(tail.body.equals(data.subarray(data.length - 10))).to.equal(true);
    const open = await raw(s.webdav, "GET", "/run1/a.bin", { headers: auth({ Range: `bytes=${data.length - 5}-` }) });
    expect(open.body.length).to.equal(5);
    const past = await raw(s.webdav, "GET", "/run1/a.bin", { headers: auth({ Range: `bytes=${data.length}-` }) });
    expect(past.status).to.equal(416);
    expect(past.headers["content-range"]).to.equal(`bytes */${data.length}`);
    expect((await raw(s.webdav, "GET", "/run1/none.bin", { headers: auth() })).status).to.equal(404);
    // past 1 MiB the door streams (below it, one read): whole files and ranges alike
    const big = randomBytes(3 * 1024 * 1024 + 7);
    expect((await raw(s.webdav, "PUT", "/run1/big.bin", { headers: auth(), body: big })).status).to.equal(201);
    const whole = await raw(s.webdav, "GET", "/run1/big.bin", { headers: auth() });
    expect(whole.headers["content-length"]).to.equal(String(big.length));
    expect(whole.body.equals(big)).to.equal(true);
    const wide = await raw(s.webdav, "GET", "/run1/big.bin", { headers: auth({ Range: "bytes=5-2097156" }) });
    expect(wide.status).to.equal(206);
    expect(wide.body.equals(big.subarray(5, 2097157))).to.equal(true);
  });

  it("HEAD with Want-Digest: adler32 answers Digest: adler32=<8 hex> equal to zlib's", async () => {
    const head = await raw(s.webdav, "HEAD", "/run1/a.bin", { headers: auth({ "Want-Digest": "adler32" }) });
    expect(head.status).to.equal(200);
    expect(head.body.length).to.equal(0);
    expect(head.headers["content-length"]).to.equal("300000");
    expect(head.headers.digest).to.equal(`adler32=${zlibAdler32(join(s.root, "run1/a.bin"))}`);
    const md5 = await raw(s.webdav, "HEAD", "/run1/good.bin", { headers: auth({ "Want-Digest": "md5;q=0.3, unknown" }) });
    expect(md5.headers.digest).to.equal("md5=XUFAKrxLKna5cZ2REBfFkg==");
    const none = await raw(s.webdav, "HEAD", "/run1/good.bin", { headers: auth() });
    expect(none.headers.digest).to.equal(undefined);
  });

  it("PROPFIND depth 0 and 1 give a DAV multistatus; infinite depth is refused with 403", async () => {
    const d0 = await raw(s.webdav, "PROPFIND", "/run1", { headers: auth({ Depth: "0" }) });
    expect(d0.status).to.equal(207);
    expect(d0.headers["content-type"]).to.match(/xml/);
    expect(d0.text.match(/<d:response>/g)).to.have.length(1);
    expect(d0.text).to.include("<d:href>/run1/</d:href>").and.include("<d:collection/>");
    const d1 = await raw(s.webdav, "PROPFIND", "/run1", { headers: auth({ Depth: "1" }) });
    expect(d1.text).to.include("<d:href>/run1/a.bin</d:href>").and.include("<d:getcontentlength>300000</d:getcontentlength>");
    const body =
      '<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Z="urn:x"><D:prop><D:getcontentlength/><Z:color/></D:prop></D:propfind>';
    const sel = await raw(s.webdav, "PROPFIND", "/run1/a.bin", { headers: auth({ Depth: "0", "Content-Type": "application/xml" }), body });
    expect(sel.status).to.equal(207);
    expect(sel.text)
      .to.include("<d:getcontentlength>300000</d:getcontentlength>")
      .and.include('<x:color xmlns:x="urn:x"/>')
      .and.include("404 Not Found");
    expect(sel.text).to.not.include("getlastmodified");
    expect((await raw(s.webdav, "PROPFIND", "/run1", { headers: auth() })).status).to.equal(403);
    expect((await raw(s.webdav, "PROPFIND", "/run1", { headers: auth({ Depth: "0" }), body: "<nonsense/>" })).status).to.equal(400);
  });

  it("MOVE renames (201), refuses Overwrite: F onto an existing file (412), needs a Destination (400)", async () => {
    await raw(s.webdav, "PUT", "/run1/m.bin", { headers: auth(), body: "move me" });
    const mv = await raw(s.webdav, "MOVE", "/run1/m.bin", { headers: auth({ Destination: `${s.webdav}/run1/moved.bin` }) });
    expect(mv.status).to.equal(201);
    expect(readFileSync(join(s.root, "run1/moved.bin"), "utf8")).to.equal("move me");
    expect(existsSync(join(s.root, "run1/m.bin"))).to.equal(false);
    const no = await raw(s.webdav, "MOVE", "/run1/moved.bin", { headers: auth({ Destination: "/run1/a.bin", Overwrite: "F" }) });
    expect(no.status).to.equal(412);
    expect((await raw(s.webdav, "MOVE", "/run1/moved.bin", { headers: auth() })).status).to.equal(400);
    const over = await raw(s.webdav, "MOVE", "/run1/moved.bin", { headers: auth({ Destination: "/run1/good.bin" }) });
    expect(over.status).to.equal(204);
  });

  it("DELETE removes files (204), refuses non-empty directories (409), 404 when absent", async () => {
    await raw(s.webdav, "MKCOL", "/gone", { headers: auth() });
    await raw(s.webdav, "PUT", "/gone/f", { headers: auth(), body: "x" });
    expect((await raw(s.webdav, "DELETE", "/gone", { headers: auth() })).status).to.equal(409);
    expect((await raw(s.webdav, "DELETE", "/gone/f", { headers: auth() })).status).to.equal(204);
    expect((await raw(s.webdav, "DELETE", "/gone", { headers: auth() })).status).to.equal(204);
    expect((await raw(s.webdav, "DELETE", "/gone", { headers: auth() })).status).to.equal(404);
    expect(existsSync(join(s.root, "gone"))).to.equal(false);
  });

  it("rejects traversal: '..', encoded '..' and '/', and symbolic links out of the root", async () => {
    for (const p of [
      "/../etc/passwd",
      "/run1/../../etc/passwd",
      "/%2e%2e/etc/passwd",
      "/run1/%2E%2E/%2e%2e/etc/passwd",
      "/run1%2f..%2f..%2fetc/passwd",
      "/a%00b",
    ]) {
      const r = await raw(s.webdav, "GET", p, { headers: auth() });
      expect(r.status, p).to.equal(400);
    }
    symlinkSync("/etc", join(s.root, "escape"));
    expect((await raw(s.webdav, "GET", "/escape/passwd", { headers: auth() })).status).to.equal(403);
    expect((await raw(s.webdav, "PUT", "/escape/x", { headers: auth(), body: "x" })).status).to.equal(403);
    symlinkSync("/nonexistent-target-dir/file", join(s.root, "dangling"));
    expect((await raw(s.webdav, "PUT", "/dangling", { headers: auth(), body: "x" })).status).to.equal(403);
    const dest = await raw(s.webdav, "MOVE", "/run1/a.bin", { headers: auth({ Destination: "/escape/stolen" }) });
    expect(dest.status).to.equal(403);
    mkdirSync(join(s.root, "inside"));
    writeFileSync(join(s.root, "inside/ok.txt"), "fine");
    symlinkSync(join(s.root, "inside"), join(s.root, "alias"));
    expect((await raw(s.webdav, "GET", "/alias/ok.txt", { headers: auth() })).text).to.equal("fine");
  });

  it("answers unknown methods with 405 and an Allow header; OPTIONS advertises DAV", async () => {
    const r = await raw(s.webdav, "PATCH", "/run1", { headers: auth() });
    expect(r.status).to.equal(405);
    expect(r.headers.allow).to.include("PROPFIND");
    const o = await raw(s.webdav, "OPTIONS", "/", { headers: auth() });
    expect(o.headers.dav).to.equal("1");
  });
});
