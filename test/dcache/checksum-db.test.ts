// --checksum-db: checksums survive a restart, so files are not hashed again.
import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startService } from "../support/service.ts";
import { Adler32 } from "../../lib/checksum/adler32.ts";
import { auth, raw } from "./support.ts";

describe("local dCache: checksums kept across restarts (--checksum-db)", function () {
  this.timeout(60_000);
  const dir = mkdtempSync(join(tmpdir(), "dcache-ckdb-"));
  const root = join(dir, "root");
  const dbFile = join(dir, "checksums.sqlite");
  after(() => rmSync(dir, { recursive: true, force: true }));

  const start = () =>
    startService(
      "local/dcache/main.ts",
      ["--root", root, "--frontend-port", "0", "--webdav-port", "0", "--checksum-db", dbFile, "--inotify", "off"],
      {
        listeners: ["dcache-frontend", "dcache-webdav"],
      },
    );

  it("a restarted storage answers from the database instead of hashing again", async () => {
    let svc = await start();
    const data = "original contents";
    try {
      expect((await raw(svc.urls["dcache-webdav"]!, "PUT", "/f.dat", { headers: auth(), body: data })).status).to.equal(201);
    } finally {
      await svc.stop();
    }
    // Same size, inode and mtime but other bytes: only a stored checksum can still say "original".
    const file = join(root, "f.dat");
    const st = statSync(file, { bigint: true });
    writeFileSync(file, "ORIGINAL CONTENTS", { flag: "r+" });
    const ns = st.mtimeNs;
    execFileSync("touch", ["-m", "-d", `@${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, "0")}`, file]);
    expect(statSync(file, { bigint: true }).mtimeNs).to.equal(st.mtimeNs);
    svc = await start();
    try {
      const ns = JSON.parse(
        (await raw(svc.urls["dcache-frontend"]!, "GET", "/api/v1/namespace/f.dat?checksum=true", { headers: auth() })).text,
      );
      expect(ns.checksums[0].value).to.equal(new Adler32().update(Buffer.from(data)).hex());
      // a real change (new mtime) is noticed and hashed
      writeFileSync(file, "changed");
      const ns2 = JSON.parse(
        (await raw(svc.urls["dcache-frontend"]!, "GET", "/api/v1/namespace/f.dat?checksum=true", { headers: auth() })).text,
      );
      expect(ns2.checksums[0].value).to.equal(new Adler32().update(Buffer.from("changed")).hex());
    } finally {
      await svc.stop();
    }
  });

  it("refuses a database file inside the storage root", async () => {
    const err = await startService(
      "local/dcache/main.ts",
      ["--root", root, "--frontend-port", "0", "--webdav-port", "0", "--checksum-db", join(root, "x.sqlite")],
      {
        listeners: ["dcache-frontend"],
      },
    ).catch((e) => e);
    expect(String(err)).to.match(/inside the storage root/);
  });
});
