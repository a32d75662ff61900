// Every standard function run through its built bundle in a fresh Node process (as OpenWhisk's
// Node.js runtime runs it) against real local peers as processes: local dCache, SciCat, Rucio,
// and Mosquitto. Covers the documented behaviour for bad files, gone files, failing services and
// replayed events, and that no secret reaches the logs.
import { scicatToken } from "../e2e/support.ts";
import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import mqtt from "mqtt";
import { adler32Hex } from "../../lib/checksum/adler32.ts";
import { buildBundles, runBundle, type BundleRun } from "./support/bundles.ts";
import { writeExdfWithImage } from "./support/exdf-image.ts";
import { writeCbf, writeEdf, writeNexus } from "./support/samples.ts";
import {
  clearRetained,
  cloudEvent,
  DCACHE_AUTH,
  download,
  MQTT_URL,
  requireMosquitto,
  RUCIO_AUTH,
  SCICAT_AUTH,
  FACILITY_DMP,
  startStack,
  upload,
  type Stack,
} from "./support/stack.ts";

const FUNCTIONS = ["checksum", "metadata", "catalogue", "placement", "lifecycle", "accounting", "derive"];
const SECRETS = ["demo:demo", "ZGVtbzpkZW1v", 'ingestor"', "s3cret-pw"];

function noSecrets(run: BundleRun): void {
  for (const s of SECRETS) {
    expect(run.logs, `logs must not contain ${s}`).to.not.include(s);
    expect(JSON.stringify(run.result), `the result must not contain ${s}`).to.not.include(s);
  }
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** A stand-in for a broken service: every request gets `status` (and counts what arrived). */
type Answer = { status: number; body?: unknown; headers?: Record<string, string> };

async function brokenService(
  answer: (url: string, method: string) => Answer,
): Promise<{ url: string; server: Server; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    req.resume();
    req.on("end", () => {
      const a = answer(req.url ?? "", req.method ?? "GET");
      const text = a.body === undefined ? "" : JSON.stringify(a.body);
      res.writeHead(a.status, { "Content-Type": "application/json", ...a.headers });
      res.end(text);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, requests };
}

describe("functions: bundles against the local stack", function () {
  this.timeout(120_000);
  let bundles: string;
  let stack: Stack;
  let storage: Record<string, string>;
  const sample: Record<string, Buffer> = {};

  before(async () => {
    await requireMosquitto();
    bundles = buildBundles(FUNCTIONS);
    stack = await startStack();
    storage = { webdavUrl: stack.webdavUrl, frontendUrl: stack.frontendUrl, ...DCACHE_AUTH };
    const tmp = stack.dir;
    await writeNexus(join(tmp, "run-0042.nxs"), {
      title: "Lysozyme 100K",
      proposal: "20261234",
      run: "42",
      instrument: "P11",
      users: [{ name: "Ada Lovelace", email: "ada@example.org" }],
      frames: [40, 128, 128],
    });
    await writeExdfWithImage(join(tmp, "RAW-R0348-AGIPD04-S00002.h5"));
    writeCbf(join(tmp, "lyso_00001.cbf"), 200, 100);
    writeEdf(join(tmp, "img_0001.edf"), 64, 32);
    for (const [name, path] of [
      ["run-0042.nxs", "/beamtime/raw/run-0042.nxs"],
      ["RAW-R0348-AGIPD04-S00002.h5", "/beamtime/raw/RAW-R0348-AGIPD04-S00002.h5"],
      ["lyso_00001.cbf", "/beamtime/raw/lyso_00001.cbf"],
      ["img_0001.edf", "/beamtime/raw/img_0001.edf"],
    ] as const) {
      sample[path] = readFileSync(join(tmp, name));
      await upload(stack.webdavUrl, path, sample[path]!);
    }
    await upload(stack.webdavUrl, "/beamtime/raw/notes.txt", Buffer.from("beam lost at 10:14\n"));
  });

  after(async () => {
    await stack?.stop();
  });

  describe("checksum", () => {
    it("streams the file, computes ADLER32 and confirms it against dCache", async () => {
      const path = "/beamtime/raw/run-0042.nxs";
      const run = await runBundle(bundles, "checksum", { ...storage, events: [cloudEvent(path, "7")] });
      noSecrets(run);
      const f = (run.result.files as Array<Record<string, any>>)[0]!;
      expect(f.path).to.equal(path);
      expect(f.adler32).to.equal(adler32Hex(sample[path]!));
      expect(f.checksum).to.include({ algorithm: "ADLER32", verified: true, storage: f.adler32, bytes: sample[path]!.length });
      expect(f.event).to.include({ id: "7", type: "org.dcache.storage.IN_CLOSE_WRITE" });
      expect((run.result.steps as Array<Record<string, unknown>>)[0]).to.include({
        function: "checksum",
        outcome: "ok",
        bytesRead: sample[path]!.length,
      });
    });

    it("an enriched event (dCache's size, mtime and ADLER32 a moment ago): the bytes are compared with them, no lookup", async () => {
      const path = "/beamtime/raw/run-0042.nxs";
      const bytes = sample[path]!;
      // an mtime the namespace does not have: kept on the record only if checksum looked nothing up
      const mtime = Date.UTC(2026, 0, 2, 3, 4, 5, 6);
      const ev = {
        ...cloudEvent(path, "e1"),
        data: { path, mask: ["IN_CLOSE_WRITE"], isDir: false, size: bytes.length, mtime, adler32: adler32Hex(bytes) },
      };
      const run = await runBundle(bundles, "checksum", { ...storage, events: [ev] });
      const f = (run.result.files as Array<Record<string, any>>)[0]!;
      expect(f).to.include({ path, size: bytes.length, mtime: "2026-01-02T03:04:05.006Z", adler32: adler32Hex(bytes) });
      expect(f.checksum).to.include({ verified: true, value: adler32Hex(bytes), storage: adler32Hex(bytes), bytes: bytes.length });
    });

    it("an event whose values are stale (the file rewritten since): looked up, and judged by what dCache has now", async () => {
      const path = "/beamtime/raw/run-0042.nxs";
      const bytes = sample[path]!;
      const ev = {
        ...cloudEvent(path, "e2"),
        data: { path, mask: ["IN_CLOSE_WRITE"], isDir: false, size: bytes.length - 1, mtime: Date.UTC(2026, 0, 1), adler32: "00000001" },
      };
      const run = await runBundle(bundles, "checksum", { ...storage, events: [ev] });
      const f = (run.result.files as Array<Record<string, any>>)[0]!;
      expect(run.result.failed ?? []).to.deep.equal([]);
      expect(f.mtime).to.equal(new Date(statSync(join(stack.root, path)).mtimeMs).toISOString());
      expect(f.checksum).to.include({ verified: true, value: adler32Hex(bytes), storage: adler32Hex(bytes), bytes: bytes.length });
    });

    it("without frontendUrl uses the Digest of the WebDAV transfer", async () => {
      const path = "/beamtime/raw/lyso_00001.cbf";
      const run = await runBundle(bundles, "checksum", { webdavUrl: stack.webdavUrl, dcacheToken: "demo-token", path });
      expect((run.result.files as any[])[0].checksum).to.include({ verified: true, value: adler32Hex(sample[path]!) });
    });

    it("a mismatch fails that file permanently, naming both values; the rest of the batch goes on", async () => {
      const path = "/beamtime/raw/corrupted.nxs";
      await upload(stack.webdavUrl, path, sample["/beamtime/raw/run-0042.nxs"]!);
      const good = adler32Hex(sample["/beamtime/raw/run-0042.nxs"]!);
      // Bit rot behind dCache's back: same size and mtime, so its recorded checksum stays.
      const fsPath = join(stack.root, path);
      const st = statSync(fsPath);
      // touch -r copies the timestamps with full (nanosecond) precision.
      execFileSync("touch", ["-r", fsPath, `${fsPath}.times`]);
      const fd = openSync(fsPath, "r+");
      writeSync(fd, Buffer.from([0xff, 0xee, 0xdd]), 0, 3, 4000);
      closeSync(fd);
      execFileSync("touch", ["-r", `${fsPath}.times`, fsPath]);
      unlinkSync(`${fsPath}.times`);
      expect(statSync(fsPath).mtimeMs, "mtime restored").to.equal(st.mtimeMs);
      const run = await runBundle(bundles, "checksum", {
        ...storage,
        events: [cloudEvent(path, "c1"), cloudEvent("/beamtime/raw/notes.txt", "c2")],
      });
      const computed = adler32Hex(readFileSync(fsPath));
      expect(run.result.error).to.equal(undefined);
      expect((run.result.files as any[]).map((f) => f.path)).to.deep.equal(["/beamtime/raw/notes.txt"]);
      const failed = run.result.failed as any[];
      expect(failed).to.have.length(1);
      expect(failed[0]).to.deep.include({ path, step: "checksum", permanent: true });
      expect(failed[0].event.id).to.equal("c1");
      expect(failed[0].reason).to.include(path).and.include(computed).and.include(good);
      expect((run.result.steps as any[])[0]).to.include({ outcome: "ok", failed: 1 });
      noSecrets(run);
      // the same file fired with dCache's values on its event (enrich): the same failure
      const enriched = {
        ...cloudEvent(path, "c3"),
        data: { path, mask: ["IN_CLOSE_WRITE"], isDir: false, size: st.size, mtime: Math.floor(st.mtimeMs), adler32: good },
      };
      const again = await runBundle(bundles, "checksum", { ...storage, events: [enriched] });
      expect(again.result.files).to.deep.equal([]);
      expect((again.result.failed as any[])[0]).to.deep.include({ path, step: "checksum", permanent: true, adler32: good });
      expect((again.result.failed as any[])[0].reason)
        .to.include(computed)
        .and.include(good);
    });

    it("skips a file deleted between the event and the run, and processes the rest of the batch", async () => {
      await upload(stack.webdavUrl, "/beamtime/raw/short-lived.dat", Buffer.from("gone soon"));
      unlinkSync(join(stack.root, "/beamtime/raw/short-lived.dat"));
      const run = await runBundle(bundles, "checksum", {
        ...storage,
        events: [cloudEvent("/beamtime/raw/short-lived.dat", "1"), cloudEvent("/beamtime/raw/notes.txt", "2")],
      });
      expect(run.result.error).to.equal(undefined);
      expect((run.result.files as any[]).map((f) => f.path)).to.deep.equal(["/beamtime/raw/notes.txt"]);
      expect(run.result.skipped).to.deep.equal([
        { path: "/beamtime/raw/short-lived.dat", reason: "not found in storage (deleted after the event?)" },
      ]);
    });

    it("wrong storage credentials: a clear error without the password", async () => {
      const run = await runBundle(bundles, "checksum", { ...storage, dcachePassword: "s3cret-pw", path: "/beamtime/raw/notes.txt" });
      expect(run.result.error).to.match(/refused \(401.*check dcacheUser\/dcachePassword/);
      // wrong credentials concern every file and stay wrong until someone changes them
      expect(run.result).to.deep.include({ step: "checksum", transient: false, paths: ["/beamtime/raw/notes.txt"] });
      noSecrets(run);
    });

    it("an unreachable storage: says which service and parameter", async () => {
      const port = await closedPort();
      const run = await runBundle(bundles, "checksum", { webdavUrl: `http://127.0.0.1:${port}`, path: "/x" });
      expect(run.result.error).to.equal(
        `cannot reach dCache WebDAV at http://127.0.0.1:${port}/x (connection refused); check that it runs and that parameter webdavUrl is right`,
      );
      expect(run.result).to.deep.include({ step: "checksum", transient: true, paths: ["/x"] });
    });

    it("bad parameters: an ajv error naming the parameter", async () => {
      const run = await runBundle(bundles, "checksum", { webdavUrl: "ftp://nope", path: "relative/path" });
      expect(run.result.error)
        .to.match(/^invalid parameters for checksum: /)
        .and.include('path must match pattern "^/"')
        .and.include('webdavUrl must match pattern "^https?://"');
      const none = await runBundle(bundles, "checksum", { webdavUrl: stack.webdavUrl });
      expect(none.result.error).to.match(/events is required|path is required|files is required/);
    });
  });

  describe("metadata", () => {
    it("NeXus over HTTP Range: the mapping fields, reading a small part of the file", async () => {
      const path = "/beamtime/raw/run-0042.nxs";
      const run = await runBundle(bundles, "metadata", { ...storage, events: [cloudEvent(path, "8")] });
      noSecrets(run);
      const f = (run.result.files as any[])[0];
      expect(f.metadata.format).to.equal("nexus");
      expect(f.metadata.nexus.entries[0]).to.deep.include({
        title: "Lysozyme 100K",
        experiment_identifier: "20261234",
        entry_identifier: "42",
        instrument: { name: "P11", detectors: ["detector"] },
      });
      expect(f.metadata.nexus.entries[0].data[0]).to.deep.equal({ path: "/entry/data/data", shape: [40, 128, 128], dtype: "<u2" });
      expect(f.size).to.equal(sample[path]!.length);
      const step = (run.result.steps as any[])[0];
      expect(step.bytesRead)
        .to.be.above(0)
        .and.below(sample[path]!.length / 10);
    });

    it("EXDF, miniCBF, EDF and unknown files in one batch", async () => {
      const paths = [
        "/beamtime/raw/RAW-R0348-AGIPD04-S00002.h5",
        "/beamtime/raw/lyso_00001.cbf",
        "/beamtime/raw/img_0001.edf",
        "/beamtime/raw/notes.txt",
      ];
      const run = await runBundle(bundles, "metadata", { ...storage, events: paths.map((p, i) => cloudEvent(p, String(i))) });
      const byPath = Object.fromEntries((run.result.files as any[]).map((f) => [f.path, f.metadata]));
      expect(byPath[paths[0]!].exdf).to.include({ proposalNumber: 2948, runNumber: 348 });
      expect(byPath[paths[1]!].cbf).to.include({ detector: "PILATUS 6M, S/N 60-0100", wavelength: 0.9795 });
      expect(byPath[paths[2]!].edf.dimensions).to.deep.equal([64, 32]);
      expect(byPath[paths[3]!]).to.include({ format: "unknown", contentType: "text/plain", size: 19 });
      expect(byPath[paths[3]!].mtime).to.match(/^\d{4}-\d\d-\d\dT/);
    });

    it("corrupt HDF5: a permanent failure naming the file; no HDF5 diagnostics in the action's logs", async () => {
      const bytes = Buffer.from(sample["/beamtime/raw/run-0042.nxs"]!.subarray(0, 20000));
      bytes.fill(0x41, 8, 400);
      await upload(stack.webdavUrl, "/beamtime/raw/broken.nxs", bytes);
      const run = await runBundle(bundles, "metadata", { ...storage, path: "/beamtime/raw/broken.nxs" });
      expect(run.result.error).to.equal(undefined);
      expect(run.result.files).to.deep.equal([]);
      const failed = run.result.failed as any[];
      expect(failed).to.have.length(1);
      expect(failed[0]).to.deep.include({ path: "/beamtime/raw/broken.nxs", step: "metadata", permanent: true });
      expect(failed[0].reason).to.match(/\/beamtime\/raw\/broken\.nxs is not a readable HDF5 file/);
      expect(run.logs).to.not.match(/HDF5-DIAG|#000:|H5F\.c/);
    });

    it("a record with size and mtime (as checksum leaves it) is read with one GET that checks the size; a file grown since fails, to be retried", async () => {
      const path = "/beamtime/raw/lyso_00001.cbf";
      const bytes = sample[path]!;
      // the record's mtime is taken as the lookup it came from found it: no lookup of its own
      const mtime = "2026-01-02T03:04:05.678Z";
      const run = await runBundle(bundles, "metadata", { ...storage, files: [{ path, size: bytes.length, mtime }] });
      const f = (run.result.files as any[])[0];
      expect(f).to.deep.include({ path, size: bytes.length, mtime });
      expect(f.metadata.cbf).to.include({ detector: "PILATUS 6M, S/N 60-0100" });
      expect((run.result.steps as any[])[0].bytesRead).to.equal(bytes.length);
      // the file has grown since the record's size was looked up: its first bytes are not the file
      const grown = await runBundle(bundles, "metadata", { ...storage, files: [{ path, size: bytes.length - 100, mtime }] });
      expect(grown.result.files).to.deep.equal([]);
      const failed = (grown.result.failed as any[])[0];
      expect(failed).to.deep.include({ path, step: "metadata", permanent: false });
      expect(failed.reason).to.include(`the storage announced ${bytes.length - 100} bytes but it holds ${bytes.length} now`);
      expect(failed.reason).to.include("the file changed while it was read");
    });

    it("a file deleted after the event is skipped", async () => {
      const run = await runBundle(bundles, "metadata", { ...storage, path: "/beamtime/raw/never-was.nxs" });
      expect(run.result.files).to.deep.equal([]);
      expect((run.result.skipped as any[])[0].path).to.equal("/beamtime/raw/never-was.nxs");
    });
  });

  describe("catalogue", () => {
    const defaults = () => ({
      scicatUrl: stack.scicatUrl,
      ...SCICAT_AUTH,
      ownerGroup: "p11-group",
      accessGroups: ["p11"],
      pidPrefix: "20.500.12269",
    });

    async function datasets(): Promise<any[]> {
      const token = await scicatToken(stack.scicatUrl);
      return (await (await fetch(`${stack.scicatUrl}/api/v3/datasets`, { headers: { Authorization: `Bearer ${token}` } })).json()) as any[];
    }

    it("the beamtime's dmp.json gives owner fields and embargo, and the dataset records which plan applied", async () => {
      const plan = Buffer.from(
        JSON.stringify(
          {
            version: 1,
            id: "beamtime 20261234",
            owner: {
              ownerGroup: "p20261234",
              owner: "Ada",
              contactEmail: "ada@example.org",
              principalInvestigator: "Ada Lovelace",
              accessGroups: ["p20261234", "p11-staff"],
            },
            archive: { rseExpression: "type=archive" },
            embargoUntil: "2099-01-01",
          },
          null,
          2,
        ),
      );
      await upload(stack.webdavUrl, "/beamtime/planned/dmp.json", plan);
      const bytes = sample["/beamtime/raw/lyso_00001.cbf"]!;
      await upload(stack.webdavUrl, "/beamtime/planned/raw/frame.cbf", bytes);
      const run = await runBundle(bundles, "catalogue", {
        ...defaults(),
        ...storage,
        contactEmail: "x@y",
        principalInvestigator: "someone",
        creationLocation: "P11",
        files: [{ path: "/beamtime/planned/raw/frame.cbf", size: bytes.length, adler32: adler32Hex(bytes) }],
      });
      const c = (run.result.files as any[])[0].catalogue;
      expect(c.dmp).to.equal("/beamtime/planned/dmp.json");
      const ds = (await datasets()).find((d) => d.pid === c.pid);
      expect(ds).to.include({
        ownerGroup: "p20261234",
        owner: "Ada",
        contactEmail: "ada@example.org",
        principalInvestigator: "Ada Lovelace",
        isPublished: false,
      });
      expect(ds.accessGroups).to.deep.equal(["p20261234", "p11-staff"]);
      expect(ds.scientificMetadata.dataManagementPlan).to.deep.equal({
        id: "beamtime 20261234",
        source: "/beamtime/planned/dmp.json",
        sha256: createHash("sha256").update(plan).digest("hex"),
        embargoUntil: "2099-01-01",
      });
      // not JSON: the file fails, permanently, saying which plan and what to do
      await upload(stack.webdavUrl, "/beamtime/planned/dmp.json", Buffer.from("{ version: 1"));
      const bad = await runBundle(bundles, "catalogue", {
        ...defaults(),
        ...storage,
        contactEmail: "x@y",
        principalInvestigator: "someone",
        creationLocation: "P11",
        files: [{ path: "/beamtime/planned/raw/frame.cbf", size: bytes.length, adler32: adler32Hex(bytes) }],
      });
      expect((bad.result.failed as any[])[0]).to.deep.include({ step: "catalogue", permanent: true });
      expect((bad.result.failed as any[])[0].reason).to.match(
        /its data management plan \/beamtime\/planned\/dmp\.json is not valid JSON \(.*\); fix \/beamtime\/planned\/dmp\.json, then retry its files \(npm run files -- retry --prefix \/beamtime\/planned\/\)/,
      );
    });

    it("registers a dataset with the NeXus mapping and an origdatablock; a replay updates it", async () => {
      const path = "/beamtime/raw/run-0042.nxs";
      const ck = await runBundle(bundles, "checksum", { ...storage, path });
      const md = await runBundle(bundles, "metadata", { ...storage, ...ck.result });
      const first = await runBundle(bundles, "catalogue", { ...defaults(), ...md.result });
      noSecrets(first);
      const c = (first.result.files as any[])[0].catalogue;
      expect(c.action).to.equal("created");
      expect(c.pid).to.match(/^20\.500\.12269\/[0-9a-f-]{36}$/);
      const again = await runBundle(bundles, "catalogue", { ...defaults(), ...md.result });
      expect((again.result.files as any[])[0].catalogue).to.include({ pid: c.pid, action: "updated" });
      const all = (await datasets()).filter((d) => d.pid === c.pid);
      expect(all).to.have.length(1);
      expect(all[0]).to.include({
        datasetName: "Lysozyme 100K",
        proposalId: "20261234",
        runNumber: "42",
        sourceFolder: "/beamtime/raw",
        creationLocation: "P11",
        principalInvestigator: "Ada Lovelace",
        contactEmail: "ada@example.org",
        type: "raw",
        ownerGroup: "p11-group",
      });
      expect(all[0].startTime).to.equal("2026-11-28T10:00:00.000Z");
      const token = await scicatToken(stack.scicatUrl);
      const blocks = (await (
        await fetch(`${stack.scicatUrl}/api/v3/datasets/${encodeURIComponent(c.pid)}/origdatablocks`, {
          headers: { Authorization: `Bearer ${token}` },
        })
      ).json()) as any[];
      expect(blocks).to.have.length(1);
      expect(blocks[0].dataFileList[0]).to.include({ path: "run-0042.nxs", size: sample[path]!.length, chk: adler32Hex(sample[path]!) });
    });

    it("a batch: every file its own dataset, results in input order", async () => {
      const paths = [
        "/beamtime/raw/lyso_00001.cbf",
        "/beamtime/raw/img_0001.edf",
        "/beamtime/raw/notes.txt",
        "/beamtime/raw/RAW-R0348-AGIPD04-S00002.h5",
      ];
      const ck = await runBundle(bundles, "checksum", { ...storage, events: paths.map((p, i) => cloudEvent(p, String(i))) });
      const md = await runBundle(bundles, "metadata", { ...storage, ...ck.result });
      const run = await runBundle(bundles, "catalogue", {
        ...defaults(),
        contactEmail: "a@b.c",
        principalInvestigator: "PI",
        creationLocation: "P11",
        concurrency: 3,
        ...md.result,
      });
      const files = run.result.files as any[];
      expect(files.map((f) => f.path)).to.deep.equal(paths);
      expect(new Set(files.map((f) => f.catalogue.pid)).size).to.equal(4);
      const mine = (await datasets()).filter((d) => files.some((f) => f.catalogue.pid === d.pid));
      expect(mine.map((d) => d.dataFormat).sort()).to.deep.equal(["EDF", "EXDF", "miniCBF", "unknown"]);
    });

    it("SciCat 401 (wrong password): a clear error without the password", async () => {
      const run = await runBundle(bundles, "catalogue", {
        ...defaults(),
        scicatPassword: "s3cret-pw",
        contactEmail: "a@b.c",
        principalInvestigator: "PI",
        creationLocation: "P11",
        files: [{ path: "/beamtime/raw/notes.txt", size: 19 }],
      });
      expect(run.result.error).to.match(/SciCat login as ingestor .* refused \(401\); check scicatUsername and scicatPassword/);
      noSecrets(run);
    });

    it("fields SciCat requires but nothing gives: says which parameters to set", async () => {
      const run = await runBundle(bundles, "catalogue", { ...defaults(), files: [{ path: "/beamtime/raw/notes.txt", size: 19 }] });
      const failed = run.result.failed as any[];
      expect(failed[0]).to.deep.include({ path: "/beamtime/raw/notes.txt", step: "catalogue", permanent: true });
      expect(failed[0].reason).to.match(/SciCat needs contactEmail, principalInvestigator, creationLocation/);
    });

    it("SciCat 500: the file fails transiently, saying SciCat has a problem", async () => {
      const broken = await brokenService((url, method) =>
        url.endsWith("/auth/login")
          ? { status: 201, body: { access_token: "t", expires_in: 3600 } }
          : method === "GET"
            ? { status: 404, body: {} }
            : { status: 500, body: { statusCode: 500, message: "Internal server error" } },
      );
      try {
        const run = await runBundle(bundles, "catalogue", {
          ...defaults(),
          scicatUrl: broken.url,
          contactEmail: "a@b.c",
          principalInvestigator: "PI",
          creationLocation: "P11",
          files: [{ path: "/beamtime/raw/notes.txt", size: 19 }],
        });
        const failed = run.result.failed as any[];
        expect(failed[0]).to.deep.include({ path: "/beamtime/raw/notes.txt", step: "catalogue", permanent: false });
        expect(failed[0].reason).to.match(/SciCat dataset creation for \/beamtime\/raw\/notes\.txt failed: HTTP 500 .*retry later/);
      } finally {
        broken.server.close();
      }
    });

    it("SciCat 409 on create (a concurrent run made it): updates instead", async () => {
      const broken = await brokenService((url, method) =>
        url.endsWith("/auth/login")
          ? { status: 201, body: { access_token: "t", expires_in: 3600 } }
          : method === "POST" && url.endsWith("/datasets")
            ? { status: 409, body: { statusCode: 409, message: "exists" } }
            : method === "GET" && url.endsWith("/origdatablocks")
              ? { status: 200, body: [] }
              : method === "GET"
                ? { status: 404, body: {} }
                : { status: method === "POST" ? 201 : 200, body: {} },
      );
      try {
        const run = await runBundle(bundles, "catalogue", {
          ...defaults(),
          scicatUrl: broken.url,
          contactEmail: "a@b.c",
          principalInvestigator: "PI",
          creationLocation: "P11",
          files: [{ path: "/beamtime/raw/notes.txt", size: 19 }],
        });
        expect((run.result.files as any[])[0].catalogue.action).to.equal("updated");
        expect(broken.requests.filter((r) => r.startsWith("PATCH /api/v3/datasets/"))).to.have.length(1);
      } finally {
        broken.server.close();
      }
    });
  });

  describe("placement", () => {
    const defaults = () => ({
      rucioUrl: stack.rucioUrl,
      ...RUCIO_AUTH,
      scope: "raw",
      bufferRse: "DCACHE-BUFFER",
      ...storage,
      pfnBase: stack.webdavUrl,
      dmp: FACILITY_DMP,
    });
    const file = { path: "/beamtime/raw/lyso_00001.cbf", size: 0, adler32: "" };

    async function rucio(path: string): Promise<string> {
      const tok = (
        await fetch(`${stack.rucioUrl}/auth/userpass`, {
          headers: { "X-Rucio-Account": "demo", "X-Rucio-Username": "demo", "X-Rucio-Password": "demo" },
        })
      ).headers.get("x-rucio-auth-token")!;
      return (await fetch(stack.rucioUrl + path, { headers: { "X-Rucio-Auth-Token": tok } })).text();
    }

    before(() => {
      file.size = sample[file.path]!.length;
      file.adler32 = adler32Hex(sample[file.path]!);
    });

    it("registers the buffer replica with its PFN and protects it with a rule without lifetime, no archive rule; a replay changes nothing", async () => {
      const first = await runBundle(bundles, "placement", { ...defaults(), files: [file] });
      noSecrets(first);
      const p = (first.result.files as any[])[0].placement;
      expect(p).to.include({ scope: "raw", name: file.path, rse: "DCACHE-BUFFER", replica: "registered", dmp: "parameter dmp" });
      const rules = (await rucio(`/dids/raw/${encodeURIComponent(file.path)}/rules`))
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      expect(rules.map((r) => [r.id, r.rse_expression, r.expires_at, r.state])).to.deep.equal([
        [p.rules.buffer, "DCACHE-BUFFER", null, "OK"],
      ]);
      const replicas = JSON.parse(await rucio(`/replicas/raw/${encodeURIComponent(file.path)}`));
      expect(replicas).to.deep.include({ adler32: file.adler32, rses: { "DCACHE-BUFFER": [stack.webdavUrl + file.path] } });
      const again = await runBundle(bundles, "placement", { ...defaults(), files: [file] });
      const p2 = (again.result.files as any[])[0].placement;
      expect(p2.replica).to.equal("existed");
      expect(p2.rules).to.deep.equal(p.rules);
    });

    it("lifecycle: archive rule as the plan says; once it is OK the buffer protection goes and Rucio frees the buffer copy", async () => {
      const path = "/beamtime/life/frame.cbf";
      const bytes = sample["/beamtime/raw/lyso_00001.cbf"]!;
      await upload(stack.webdavUrl, path, bytes);
      const f = { path, size: bytes.length, adler32: adler32Hex(bytes) };
      await runBundle(bundles, "placement", { ...defaults(), files: [f] });
      const life = { ...defaults(), files: [f], pipelines: { [path]: [{ action: "guest/facility-dev-ingest", state: "succeeded" }] } };
      let done: any;
      for (const end = Date.now() + 20_000; !done && Date.now() < end; ) {
        const run = await runBundle(bundles, "lifecycle", life);
        noSecrets(run);
        done = (run.result.files as any[])[0];
        const failed = (run.result.failed as any[] | undefined)?.[0];
        if (failed) {
          // a copy still being made: transient, naming the rule and its state
          expect(failed).to.deep.include({ step: "lifecycle", permanent: false });
          expect(failed.reason).to.match(/archive not yet OK: rule [0-9a-f]{32} \(1 on type=archive\) is REPLICATING/);
        }
      }
      expect(done?.lifecycle, "lifecycle done").to.include({ dmp: "parameter dmp" });
      expect(done.lifecycle.archive).to.include({ state: "OK", rseExpression: "type=archive", copies: 1 });
      expect(done.lifecycle.buffer.released).to.equal("now");
      // Rucio's reaper frees the buffer copy; the archive copy has the original bytes
      let replicas: any;
      for (const end = Date.now() + 10_000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
        replicas = JSON.parse(await rucio(`/replicas/raw/${encodeURIComponent(path)}?all_states=True`));
        if (!replicas.rses["DCACHE-BUFFER"]) break;
      }
      expect(Object.keys(replicas.rses)).to.deep.equal(done.lifecycle.archive.rses);
      const archived = readFileSync(new URL(replicas.rses[done.lifecycle.archive.rses[0]][0]));
      expect(archived.equals(bytes)).to.equal(true);
      expect((await download(stack.webdavUrl, path)).status).to.equal(404);
      // a replay finds the same archive rule and releases nothing twice
      const again = await runBundle(bundles, "lifecycle", life);
      expect((again.result.files as any[])[0].lifecycle.archive.rule).to.equal(done.lifecycle.archive.rule);
    });

    it("lifecycle: an archive copy Rucio cannot make (STUCK: the buffer bytes rotted) is a transient failure with Rucio's reason; the buffer copy stays protected", async () => {
      const path = "/beamtime/life/rotten.cbf";
      const bytes = sample["/beamtime/raw/lyso_00001.cbf"]!;
      await upload(stack.webdavUrl, path, bytes);
      const f = { path, size: bytes.length, adler32: adler32Hex(bytes) };
      await runBundle(bundles, "placement", { ...defaults(), files: [f] });
      // behind the storage's back: same size, other bytes
      const rotten = Buffer.from(bytes);
      rotten[100] = rotten[100]! ^ 0xff;
      writeFileSync(join(stack.root, path), rotten);
      const run = await runBundle(bundles, "lifecycle", { ...defaults(), waitMs: 5000, files: [f] });
      const failed = (run.result.failed as any[])[0];
      expect(failed).to.deep.include({ step: "lifecycle", permanent: false });
      expect(failed.reason).to.match(/archive not yet OK: rule [0-9a-f]{32} \(1 on type=archive\) is STUCK: checksum mismatch/);
      expect(failed.reason).to.include(adler32Hex(rotten)).and.include(f.adler32);
      const rules = (await rucio(`/dids/raw/${encodeURIComponent(path)}/rules`))
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      expect(rules.map((r) => [r.rse_expression, r.state, r.expires_at])).to.deep.equal([
        ["DCACHE-BUFFER", "OK", null],
        ["type=archive", "STUCK", null],
      ]);
      expect(Object.keys(JSON.parse(await rucio(`/replicas/raw/${encodeURIComponent(path)}?all_states=True`)).rses)).to.deep.equal([
        "DCACHE-BUFFER",
      ]);
    });

    it("lifecycle: a pipeline the plan requires did not succeed → permanent failure naming it; nothing archived", async () => {
      const path = "/beamtime/life/needs-derive.cbf";
      const bytes = sample["/beamtime/raw/lyso_00001.cbf"]!;
      await upload(stack.webdavUrl, path, bytes);
      const f = { path, size: bytes.length, adler32: adler32Hex(bytes) };
      const dmp = { ...FACILITY_DMP, pipelines: ["ingest", "derive"] };
      await runBundle(bundles, "placement", { ...defaults(), dmp, files: [f] });
      const run = await runBundle(bundles, "lifecycle", {
        ...defaults(),
        dmp,
        files: [f],
        pipelines: {
          [path]: [
            { action: "guest/facility-dev-ingest", state: "succeeded" },
            { action: "guest/facility/derive", state: "failed" },
          ],
        },
      });
      const failed = (run.result.failed as any[])[0];
      expect(failed).to.deep.include({ step: "lifecycle", permanent: true });
      expect(failed.reason).to.match(
        /requires pipeline\(s\) derive to succeed, but the trigger's rules that ran for it are: guest\/facility-dev-ingest \(succeeded\), guest\/facility\/derive \(failed\)/,
      );
      const rules = (await rucio(`/dids/raw/${encodeURIComponent(path)}/rules`))
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      expect(rules.map((r) => r.rse_expression)).to.deep.equal(["DCACHE-BUFFER"]);
    });

    it("lifecycle for a file placement never registered: permanent failure saying the ingest pipeline has not run", async () => {
      const run = await runBundle(bundles, "lifecycle", {
        ...defaults(),
        files: [{ path: "/beamtime/life/never.cbf", size: 1, adler32: "00020002" }],
      });
      expect((run.result.failed as any[])[0]).to.deep.include({ step: "lifecycle", permanent: true });
      expect((run.result.failed as any[])[0].reason).to.match(/Rucio does not know raw:\/beamtime\/life\/never\.cbf/);
    });

    it("a dmp.json that breaks the schema fails placement of the files it covers, permanently, with the reason; a bad facility plan fails the step", async () => {
      await upload(
        stack.webdavUrl,
        "/beamtime/badplan/dmp.json",
        Buffer.from(JSON.stringify({ version: 1, id: "x", owner: {}, archive: { rseExpression: "type=archive", copies: 0 } })),
      );
      const bytes = sample["/beamtime/raw/lyso_00001.cbf"]!;
      await upload(stack.webdavUrl, "/beamtime/badplan/sub/f.cbf", bytes);
      const run = await runBundle(bundles, "placement", {
        ...defaults(),
        files: [{ path: "/beamtime/badplan/sub/f.cbf", size: bytes.length, adler32: adler32Hex(bytes) }],
      });
      const failed = (run.result.failed as any[])[0];
      expect(failed).to.deep.include({ step: "placement", permanent: true });
      expect(failed.reason).to.include(
        "its data management plan /beamtime/badplan/dmp.json is not valid: owner.ownerGroup is required; archive.copies must be >= 1",
      );
      expect(await rucio(`/dids/raw/${encodeURIComponent("/beamtime/badplan/sub/f.cbf")}/rules`)).to.match(/DataIdentifierNotFound/);
      const bad = await runBundle(bundles, "placement", {
        ...defaults(),
        dmp: { version: 2 },
        files: [{ path: "/beamtime/badplan/sub/f.cbf", size: bytes.length, adler32: adler32Hex(bytes) }],
      });
      expect(bad.result).to.deep.include({ step: "placement", transient: false });
      expect(bad.result.error).to.match(
        /parameter dmp \(the facility's data management plan\) is not valid: .*version must be equal to constant/,
      );
    });

    it("Rucio 401 (wrong password): a clear error without the password", async () => {
      const run = await runBundle(bundles, "placement", { ...defaults(), rucioPassword: "s3cret-pw", files: [file] });
      expect(run.result.error).to.match(/Rucio login to account demo as demo .* refused \(401\)/);
      noSecrets(run);
    });

    it("unknown buffer RSE (404): says to check bufferRse", async () => {
      const run = await runBundle(bundles, "placement", { ...defaults(), bufferRse: "NO-SUCH-RSE", files: [file] });
      expect(run.result.error).to.match(/404 RSENotFound.*check bufferRse/);
      expect(run.result).to.deep.include({ step: "placement", transient: false });
    });

    it("Rucio 500: the file fails transiently, saying Rucio has a problem", async () => {
      const broken = await brokenService(
        (url): Answer =>
          url.startsWith("/auth/userpass")
            ? {
                status: 200,
                headers: { "X-Rucio-Auth-Token": "tok", "X-Rucio-Auth-Token-Expires": new Date(Date.now() + 3600_000).toUTCString() },
              }
            : {
                status: 500,
                body: { ExceptionClass: "DatabaseException", ExceptionMessage: "Database exception" },
                headers: { ExceptionClass: "DatabaseException" },
              },
      );
      try {
        const run = await runBundle(bundles, "placement", { ...defaults(), rucioUrl: broken.url, files: [file] });
        const failed = run.result.failed as any[];
        expect(failed[0]).to.deep.include({ step: "placement", permanent: false });
        expect(failed[0].reason).to.match(/failed \(500 DatabaseException: Database exception\); Rucio has a problem, retry later/);
      } finally {
        broken.server.close();
      }
    });

    it("without size/adler32 from an earlier step: says to run checksum first", async () => {
      const run = await runBundle(bundles, "placement", { ...defaults(), path: "/beamtime/raw/notes.txt" });
      expect((run.result.failed as any[])[0].reason).to.match(/needs the file's size and adler32; run the checksum/);
    });
  });

  describe("accounting", () => {
    it("publishes one retained record per file under <prefix>/files/<path> and returns Prometheus counters", async () => {
      const prefix = `test/accounting/${process.pid}/${Date.now()}`;
      const sub = await mqtt.connectAsync(MQTT_URL);
      const got: Record<string, any> = {};
      sub.on("message", (t, m) => m.length && (got[t] = JSON.parse(m.toString())));
      await sub.subscribeAsync(`${prefix}/files/#`, { qos: 1 });
      try {
        const input = {
          files: [
            {
              path: "/beamtime/raw/run-0042.nxs",
              size: 100,
              adler32: "0000abcd",
              metadata: { format: "nexus", contentType: "application/x-hdf5", size: 100 },
              event: { id: "9", time: new Date(Date.now() - 500).toISOString() },
            },
          ],
          failed: [{ path: "/beamtime/raw/bad.nxs", step: "checksum", reason: "ADLER32 mismatch", permanent: true, size: 5 }],
          skipped: [{ path: "/beamtime/raw/gone", reason: "not found" }],
          steps: [
            {
              function: "checksum",
              version: "0.0.3",
              startedAt: new Date().toISOString(),
              durationMs: 20,
              files: 1,
              bytesRead: 100,
              outcome: "ok",
            },
          ],
        };
        const run = await runBundle(bundles, "accounting", {
          mqttUrl: MQTT_URL,
          mqttTopicPrefix: prefix,
          facility: "test-facility",
          ...input,
        });
        expect(run.result.accounting).to.deep.equal({ prefix, published: 3, succeeded: 1, failed: 1, skipped: 1 });
        const m = run.result.metrics as { counters: Record<string, number>; prometheus: string };
        expect(m.counters['storage_pipeline_files_total{facility="test-facility",outcome="ok",format="nexus"}']).to.equal(1);
        expect(m.counters['storage_pipeline_failed_files_total{facility="test-facility",step="checksum",permanent="true"}']).to.equal(1);
        expect(m.prometheus)
          .to.include("# TYPE storage_pipeline_bytes_total counter")
          .and.include('storage_pipeline_bytes_total{facility="test-facility"} 100');
        for (let i = 0; i < 50 && Object.keys(got).length < 3; i++) await new Promise((r) => setTimeout(r, 50));
        expect(Object.keys(got).sort()).to.deep.equal([
          `${prefix}/files/beamtime/raw/bad.nxs`,
          `${prefix}/files/beamtime/raw/gone`,
          `${prefix}/files/beamtime/raw/run-0042.nxs`,
        ]);
        const ok = got[`${prefix}/files/beamtime/raw/run-0042.nxs`];
        expect(ok).to.include({
          path: "/beamtime/raw/run-0042.nxs",
          outcome: "ok",
          bytes: 100,
          adler32: "0000abcd",
          format: "nexus",
          facility: "test-facility",
        });
        expect(ok.latencyMs).to.be.at.least(500);
        expect(ok.steps[0]).to.include({ function: "checksum", version: "0.0.3", durationMs: 20 });
        expect(got[`${prefix}/files/beamtime/raw/bad.nxs`]).to.include({
          outcome: "failed",
          step: "checksum",
          reason: "ADLER32 mismatch",
          permanent: true,
          bytes: 5,
        });
        expect(got[`${prefix}/files/beamtime/raw/gone`]).to.include({ path: "/beamtime/raw/gone", outcome: "skipped" });
      } finally {
        // clear the retained records again
        await Promise.all(Object.keys(got).map((t) => sub.publishAsync(t, "", { qos: 1, retain: true })));
        await sub.endAsync();
      }
    });

    it("an unreachable broker: a clear error", async () => {
      const run = await runBundle(bundles, "accounting", { mqttUrl: "mqtt://127.0.0.1:1", path: "/x" });
      expect(run.result.error).to.match(/cannot reach the MQTT broker at mqtt:\/\/127\.0\.0\.1:1 \(connection refused\)/);
    });
  });

  describe("derive", () => {
    it("writes a PNG preview and a JSON summary of a NeXus frame under derived/", async () => {
      const path = "/beamtime/raw/run-0042.nxs";
      const run = await runBundle(bundles, "derive", { ...storage, path });
      noSecrets(run);
      const d = (run.result.files as any[])[0].derived;
      expect(d.map((x: any) => x.path)).to.deep.equal([
        "/beamtime/raw/derived/run-0042.nxs.preview.png",
        "/beamtime/raw/derived/run-0042.nxs.summary.json",
      ]);
      const png = await download(stack.webdavUrl, d[0].path);
      expect(png.status).to.equal(200);
      expect(png.body.subarray(1, 4).toString()).to.equal("PNG");
      expect([png.body.readUInt32BE(16), png.body.readUInt32BE(20)]).to.deep.equal([128, 128]);
      const summary = JSON.parse((await download(stack.webdavUrl, d[1].path)).body.toString());
      expect(summary.frame).to.include({ origin: "/entry/data/data[0,:,:]", width: 128, height: 128 });
      expect(summary.stats).to.include({ min: 0, max: 254 });
    });

    it("the derived files are catalogued as SciCat derived datasets of their source", async () => {
      const run = await runBundle(bundles, "catalogue", {
        scicatUrl: stack.scicatUrl,
        ...SCICAT_AUTH,
        ownerGroup: "p11-group",
        contactEmail: "a@b.c",
        principalInvestigator: "PI",
        creationLocation: "P11",
        pidPrefix: "20.500.12269",
        files: [
          {
            path: "/beamtime/raw/derived/run-0042.nxs.preview.png",
            size: 100,
            metadata: { format: "unknown", contentType: "image/png", size: 100 },
          },
        ],
      });
      expect(run.result.error, String(run.result.error)).to.equal(undefined);
      const c = (run.result.files as any[])[0].catalogue;
      expect(c.type).to.equal("derived");
      const token = await scicatToken(stack.scicatUrl);
      const ds = (await (
        await fetch(`${stack.scicatUrl}/api/v3/datasets/${encodeURIComponent(c.pid)}`, { headers: { Authorization: `Bearer ${token}` } })
      ).json()) as any;
      expect(ds).to.include({ type: "derived", investigator: "PI", sourceFolder: "/beamtime/raw/derived" });
      expect(ds.usedSoftware).to.deep.equal(["derive"]);
      // The input is the dataset the raw file got (same deterministic pid).
      const raw = (await (
        await fetch(`${stack.scicatUrl}/api/v3/datasets/${encodeURIComponent(ds.inputDatasets[0])}`, {
          headers: { Authorization: `Bearer ${token}` },
        })
      ).json()) as any;
      expect(raw).to.include({ type: "raw", datasetName: "Lysozyme 100K" });
    });

    it("derives from miniCBF and EDF; skips derived files, files without a frame and directories", async () => {
      // a directory named like a detector file
      await upload(stack.webdavUrl, "/beamtime/raw/scan-dir.nxs/readme.txt", Buffer.from("not a frame\n"));
      const run = await runBundle(bundles, "derive", {
        ...storage,
        events: [
          "/beamtime/raw/lyso_00001.cbf",
          "/beamtime/raw/img_0001.edf",
          "/beamtime/raw/RAW-R0348-AGIPD04-S00002.h5",
          "/beamtime/raw/notes.txt",
          "/beamtime/raw/derived/run-0042.nxs.preview.png",
          "/beamtime/raw/scan-dir.nxs",
        ].map((p, i) => cloudEvent(p, String(i))),
      });
      expect((run.result.files as any[]).map((f) => f.path)).to.deep.equal([
        "/beamtime/raw/lyso_00001.cbf",
        "/beamtime/raw/img_0001.edf",
        "/beamtime/raw/RAW-R0348-AGIPD04-S00002.h5",
      ]);
      expect((run.result.skipped as any[]).map((s) => s.reason)).to.deep.equal([
        "format unknown holds no detector frame this function can read",
        "already a derived file",
        "not a regular file (DIR)",
      ]);
      const summary = JSON.parse((await download(stack.webdavUrl, "/beamtime/raw/derived/lyso_00001.cbf.summary.json")).body.toString());
      expect(summary.frame).to.include({ width: 200, height: 100 });
      expect(summary.stats.masked).to.be.above(0);
      const exdf = JSON.parse(
        (await download(stack.webdavUrl, "/beamtime/raw/derived/RAW-R0348-AGIPD04-S00002.h5.summary.json")).body.toString(),
      );
      expect(exdf.frame).to.include({ origin: "/INSTRUMENT/SPB_DET_AGIPD1M-1/DET/4CH0:xtdf/image/data[0,:,:]", width: 16, height: 32 });
    });

    it("a record with size and mtime (as the feed's event has them) is read with one GET that checks the size", async () => {
      const path = "/beamtime/raw/img_0001.edf";
      const bytes = sample[path]!;
      const mtime = "2026-01-02T03:04:05.678Z";
      const run = await runBundle(bundles, "derive", { ...storage, files: [{ path, size: bytes.length, mtime }] });
      expect((run.result.files as any[])[0]).to.deep.include({ path, size: bytes.length, mtime });
      expect((run.result.steps as any[])[0].bytesRead).to.equal(bytes.length);
      const grown = await runBundle(bundles, "derive", { ...storage, files: [{ path, size: bytes.length - 100, mtime }] });
      expect(grown.result.files).to.deep.equal([]);
      const failed = (grown.result.failed as any[])[0];
      expect(failed).to.deep.include({ path, step: "derive", permanent: false });
      expect(failed.reason).to.include("the file changed while it was read");
    });

    it("derivedRoot: the derived files go into one tree, its directories made as the first PUT finds them missing", async () => {
      const paths = ["/beamtime/raw/img_0001.edf", "/beamtime/raw/lyso_00001.cbf"];
      const run = await runBundle(bundles, "derive", { ...storage, derivedRoot: "/derived-tree/", files: paths.map((path) => ({ path })) });
      const derived = (run.result.files as any[]).flatMap((f) => f.derived.map((d: any) => d.path));
      expect(derived).to.deep.equal([
        "/derived-tree/beamtime/raw/img_0001.edf.preview.png",
        "/derived-tree/beamtime/raw/img_0001.edf.summary.json",
        "/derived-tree/beamtime/raw/lyso_00001.cbf.preview.png",
        "/derived-tree/beamtime/raw/lyso_00001.cbf.summary.json",
      ]);
      for (const p of derived) expect((await download(stack.webdavUrl, p)).status, p).to.equal(200);
    });

    it("derives from a real facility frame (APS area detector, 487 × 195)", async () => {
      const path = "/beamtime/raw/APS_EPICSareaDetector_hdf5_AgBehenate_228.hdf5";
      await upload(
        stack.webdavUrl,
        path,
        readFileSync(join(import.meta.dirname, "../data/nexus/APS_EPICSareaDetector_hdf5_AgBehenate_228.hdf5")),
      );
      const run = await runBundle(bundles, "derive", { ...storage, path });
      const png = await download(stack.webdavUrl, (run.result.files as any[])[0].derived[0].path);
      expect([png.body.readUInt32BE(16), png.body.readUInt32BE(20)]).to.deep.equal([487, 195]);
      const summary = JSON.parse((await download(stack.webdavUrl, (run.result.files as any[])[0].derived[1].path)).body.toString());
      expect(summary.stats.max).to.be.above(summary.stats.p995);
    });
  });

  describe("a whole sequence, result passed on from bundle to bundle", () => {
    it("checksum → metadata → catalogue → placement → accounting for one storage event", async () => {
      const path = "/beamtime/raw/RAW-R0348-AGIPD04-S00002.h5";
      const prefix = `test/sequence/${process.pid}/${Date.now()}`;
      const params: Record<string, Record<string, unknown>> = {
        checksum: storage,
        metadata: storage,
        catalogue: {
          scicatUrl: stack.scicatUrl,
          ...SCICAT_AUTH,
          ownerGroup: "xfel",
          contactEmail: "doc@xfel.eu",
          principalInvestigator: "PI",
          creationLocation: "SPB/SFX",
        },
        placement: {
          rucioUrl: stack.rucioUrl,
          ...RUCIO_AUTH,
          bufferRse: "DCACHE-BUFFER",
          ...storage,
          pfnBase: stack.webdavUrl,
          dmp: FACILITY_DMP,
        },
        accounting: { mqttUrl: MQTT_URL, mqttTopicPrefix: prefix },
      };
      let payload: Record<string, unknown> = { events: [cloudEvent(path, "100")] };
      for (const fn of ["checksum", "metadata", "catalogue", "placement", "accounting"]) {
        // As OpenWhisk does: the previous result merged over the next action's own parameters.
        const run = await runBundle(bundles, fn, { ...params[fn], ...payload });
        expect(run.result.error, `${fn}: ${String(run.result.error)}`).to.equal(undefined);
        noSecrets(run);
        payload = run.result;
      }
      const f = (payload.files as any[])[0];
      expect(f.adler32).to.equal(adler32Hex(sample[path]!));
      expect(f.metadata.format).to.equal("exdf");
      expect(f.catalogue.action).to.equal("created");
      expect(f.placement.replica).to.equal("registered");
      expect((payload.steps as any[]).map((s) => s.function)).to.deep.equal([
        "checksum",
        "metadata",
        "catalogue",
        "placement",
        "accounting",
      ]);
      expect(payload.accounting).to.deep.equal({ prefix, published: 1, succeeded: 1, failed: 0, skipped: 0 });
      await clearRetained(prefix);
    });
  });
});
