// End to end, as a user runs it: the local stack of `npm start` (real processes, real protocols), the
// service deployed with the real serverless CLI, files landing in storage by WebDAV PUT and by a
// plain copy into the data folder.
import { expect } from "chai";
import { closeSync, copyFileSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import mqtt from "mqtt";
import { adler32Hex } from "../../lib/checksum/adler32.ts";
import { describeActivation } from "../../scripts/stack/live-log.ts";
import type { LocalStack } from "../../scripts/stack/stack.ts";
import { activationsSince, ingested, pathOf, scicatToken, startStack, until, type Rec } from "./support.ts";

const testdata = join(import.meta.dirname, "../data/nexus");
const FRAME = "APS_EPICSareaDetector_hdf5_AgBehenate_228.hdf5"; // a 2D detector frame
const MX = "DLS_i03_i04_NXmx_hdf5_Therm_6_2.nxs";

describe("end to end: storage events run the facility pipeline", function () {
  this.timeout(600_000);
  let stack: LocalStack;
  let ow: Awaited<ReturnType<typeof startStack>>["ow"];
  let broker: mqtt.MqttClient;
  const accounting: Array<Record<string, unknown>> = [];
  const accountingTopics = new Set<string>();
  const t0 = Date.now();

  before(async () => {
    process.env.SKIP_TYPECHECK = "1"; // the build suite checks types; here deploys are under test
    ({ stack, ow } = await startStack());
    broker = await mqtt.connectAsync(stack.endpoints.MQTT_URL);
    // the stack's own prefix (derived from its state folder): records of other stacks on the broker stay out
    await broker.subscribeAsync(`${stack.endpoints.MQTT_TOPIC_PREFIX}/files/#`, { qos: 1 });
    broker.on("message", (t, m) => {
      if (m.length) accountingTopics.add(t);
      try {
        accounting.push(JSON.parse(m.toString()));
      } catch {
        /* not ours */
      }
    });
  });
  after(async () => {
    // the records are retained on a broker other runs share: clear this stack's
    await Promise.all([...accountingTopics].map((t) => broker.publishAsync(t, "", { qos: 1, retain: true }))).catch(() => undefined);
    await broker?.endAsync();
    await stack?.stop();
  });

  it("a file uploaded by WebDAV and one copied into the data folder each end in SciCat, Rucio, accounting and, for frames, a catalogued derived preview", async () => {
    const auth = `Basic ${Buffer.from("demo:demo").toString("base64")}`;
    const dav = stack.endpoints.DCACHE_WEBDAV_URL;
    for (const d of ["/beamtime/", "/beamtime/raw/"]) await fetch(`${dav}${d}`, { method: "MKCOL", headers: { authorization: auth } });
    // the beamtime's data management plan: archived copies, and the buffer copy kept a day after
    // (the next test corrupts a buffer copy behind the storage's back)
    const plan = {
      version: 1,
      id: "e2e beamtime",
      owner: { ownerGroup: "p-e2e" },
      archive: { rseExpression: "type=archive" },
      buffer: { keepDaysAfterArchive: 1 },
    };
    expect(
      (await fetch(`${dav}/beamtime/dmp.json`, { method: "PUT", headers: { authorization: auth }, body: JSON.stringify(plan) })).status,
    ).to.equal(201);
    const put = await fetch(`${dav}/beamtime/raw/${FRAME}`, {
      method: "PUT",
      headers: { authorization: auth },
      body: readFileSync(join(testdata, FRAME)),
    });
    expect(put.status).to.equal(201);
    mkdirSync(join(stack.data, "beamtime/raw"), { recursive: true });
    copyFileSync(join(testdata, MX), join(stack.data, "beamtime/raw", MX));
    const paths = [`/beamtime/raw/${FRAME}`, `/beamtime/raw/${MX}`];

    const done = await until(
      "both files through the ingest sequence",
      async () => {
        const m = ingested(await activationsSince(ow, t0));
        return paths.every((p) => m.has(p)) ? m : undefined;
      },
      180_000,
      stack,
    );

    const token = await scicatToken(stack.endpoints.SCICAT_URL);
    for (const p of paths) {
      const f = done.get(p)!;
      const original = readFileSync(join(testdata, p.endsWith(FRAME) ? FRAME : MX));
      expect(f.adler32, p).to.equal(adler32Hex(original));
      expect(f.checksum).to.include({ verified: true });
      expect((f.metadata as { format: string }).format).to.equal(p.endsWith(".nxs") ? "nexus" : f.metadata.format);
      const pid = (f.catalogue as { pid: string }).pid;
      const ds = await fetch(`${stack.endpoints.SCICAT_URL}/api/v3/datasets/${encodeURIComponent(pid)}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(ds.status, `SciCat dataset ${pid} of ${p}`).to.equal(200);
      // the catalogue names the exact code that made the entry: each step's bundle, as deployed
      const prov = ((await ds.json()) as { scientificMetadata: { provenance: Record<string, any> } }).scientificMetadata.provenance;
      const made = prov["prov:wasGeneratedBy"] as Array<{ function: string; action: string; bundleSha256: string; activationId: string }>;
      expect(made.map((s) => s.function)).to.deep.equal(["checksum", "metadata", "catalogue"]);
      for (const step of made) {
        const action = await ow.actions.get({ name: step.action.split("/").slice(2).join("/") });
        const annotated = action.annotations!.find((a) => a.key === "provenance")!.value as { bundleSha256: string };
        expect(step.bundleSha256, `${step.function} bundle`).to.equal(annotated.bundleSha256);
        expect(step.activationId).to.match(/^[0-9a-f]{32}$/);
      }
      expect(prov["prov:used"]).to.deep.equal([{ path: p, adler32: f.adler32 }]);
      expect(f.catalogue).to.include({ dmp: "/beamtime/dmp.json" });
      // once ingest and derive succeeded, lifecycle archives the file as the plan says
      const placement = f.placement as { scope: string; name: string };
      const rucioToken1 = await rucioToken(stack.endpoints.RUCIO_URL);
      await until(
        `the archive rule of ${p} OK`,
        async () => {
          const rules = await fetch(`${stack.endpoints.RUCIO_URL}/dids/${placement.scope}/${encodeURIComponent(placement.name)}/rules`, {
            headers: { "X-Rucio-Auth-Token": rucioToken1 },
          });
          expect(rules.status).to.equal(200);
          return (await rules.text())
            .split("\n")
            .filter(Boolean)
            .map((l) => JSON.parse(l) as { rse_expression: string; state: string })
            .some((r) => r.rse_expression === "type=archive" && r.state === "OK")
            ? true
            : undefined;
        },
        60_000,
        stack,
      );
    }
    await until(
      "an accounting record per file",
      async () => (paths.every((p) => JSON.stringify(accounting).includes(p)) ? true : undefined),
      30_000,
    );

    // the frame's preview, written back under derived/, went through the derived pipeline too
    const preview = `/beamtime/raw/derived/${FRAME}.preview.png`;
    const derived = await until(
      "the preview catalogued by the derived pipeline",
      async () => {
        const recs = await activationsSince(ow, t0);
        return recs.find(
          (a) => pathOf(a).endsWith("/facility-dev-derived") && a.response?.success && JSON.stringify(a.response.result).includes(preview),
        );
      },
      120_000,
      stack,
    );
    const dfile = (derived.response!.result as { files: Array<{ path: string; catalogue?: { pid: string } }> }).files.find(
      (f) => f.path === preview,
    )!;
    const dds = await fetch(`${stack.endpoints.SCICAT_URL}/api/v3/datasets/${encodeURIComponent(dfile.catalogue!.pid)}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(dds.status).to.equal(200);
    const dprov = ((await dds.json()) as { scientificMetadata: { provenance: Record<string, unknown> } }).scientificMetadata.provenance;
    expect(dprov["prov:wasDerivedFrom"]).to.deep.equal([(done.get(`/beamtime/raw/${FRAME}`)!.catalogue as { pid: string }).pid]);
    expect(readFileSync(join(stack.data, preview)).subarray(1, 4).toString()).to.equal("PNG");
  });

  it("a checksum mismatch fails that file at checksum: visible in the sequence's result, the live log and the provider's file ledger", async () => {
    const p = `/beamtime/raw/${MX}`;
    const fsPath = join(stack.data, p);
    const good = adler32Hex(readFileSync(fsPath));
    // Bit rot behind the storage's back: written through a hard link outside the watched tree (no
    // inotify event), same size and timestamps, so the storage keeps its recorded checksum.
    const link = join(stack.state, "rot-link");
    linkSync(fsPath, link);
    execFileSync("touch", ["-r", link, `${link}.times`]);
    const fd = openSync(link, "r+");
    writeSync(fd, Buffer.from("rot"), 0, 3, 20_000);
    closeSync(fd);
    execFileSync("touch", ["-r", `${link}.times`, link]);
    unlinkSync(link);
    const since = Date.now();
    // the operator replays the file's event (as a provider redelivery would)
    await ow.triggers.invoke({
      name: "raw-files",
      params: {
        events: [
          {
            specversion: "1.0",
            id: "replay-1",
            source: "e2e",
            type: "org.dcache.storage.IN_CLOSE_WRITE",
            subject: p,
            time: new Date().toISOString(),
          },
        ],
      },
    });
    const seq = await until(
      "the ingest sequence to end with the file failed",
      async () => {
        const recs = await activationsSince(ow, since);
        return recs.find(
          (a) => pathOf(a).endsWith("/facility-dev-ingest") && JSON.stringify(a.response?.result ?? {}).includes('"failed"'),
        );
      },
      60_000,
      stack,
    );
    // the sequence ran to its end; the file left the batch at checksum and no later step touched it
    expect(seq.response!.success).to.equal(true);
    const result = seq.response!.result as {
      files: unknown[];
      failed: Array<{ path: string; step: string; reason: string; permanent: boolean }>;
    };
    expect(result.files).to.deep.equal([]);
    expect(result.failed).to.have.length(1);
    expect(result.failed[0]).to.include({ path: p, step: "checksum", permanent: true });
    expect(result.failed[0]!.reason)
      .to.include(good)
      .and.include(adler32Hex(readFileSync(fsPath)));
    const line = describeActivation(seq as Rec)!;
    expect(line).to.include("failed").and.include("checksum").and.include(good);
  });
});

async function rucioToken(url: string): Promise<string> {
  const r = await fetch(`${url}/auth/userpass`, {
    headers: { "X-Rucio-Account": "demo", "X-Rucio-Username": "demo", "X-Rucio-Password": "demo" },
  });
  return r.headers.get("x-rucio-auth-token")!;
}
