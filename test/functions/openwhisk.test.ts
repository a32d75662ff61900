// The function bundles deployed as they are in production — zips in a package whose parameters
// hold endpoints and credentials, and an ingest sequence — on the local OpenWhisk platform, and
// invoked with a trigger's CloudEvent batch through the `openwhisk` npm client.
import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { closeSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { adler32Hex } from "../../lib/checksum/adler32.ts";
import { startPlatform, removeDir, type Platform } from "../openwhisk/support.ts";
import { buildBundles } from "./support/bundles.ts";
import { writeNexus } from "./support/samples.ts";
import {
  clearRetained,
  cloudEvent,
  DCACHE_AUTH,
  MQTT_URL,
  requireMosquitto,
  RUCIO_AUTH,
  SCICAT_AUTH,
  FACILITY_DMP,
  startStack,
  upload,
  type Stack,
} from "./support/stack.ts";

const FUNCTIONS = ["checksum", "metadata", "catalogue", "placement", "accounting", "derive"];

describe("functions: deployed on the local OpenWhisk platform", function () {
  this.timeout(120_000);
  let platform: Platform;
  let stack: Stack;
  let nexus: Buffer;

  before(async () => {
    await requireMosquitto();
    const bundles = buildBundles(FUNCTIONS);
    stack = await startStack();
    platform = await startPlatform();
    const params: Record<string, unknown> = {
      webdavUrl: stack.webdavUrl,
      frontendUrl: stack.frontendUrl,
      ...DCACHE_AUTH,
      scicatUrl: stack.scicatUrl,
      ...SCICAT_AUTH,
      ownerGroup: "p11",
      contactEmail: "p11@example.org",
      principalInvestigator: "PI",
      creationLocation: "P11",
      rucioUrl: stack.rucioUrl,
      ...RUCIO_AUTH,
      bufferRse: "DCACHE-BUFFER",
      pfnBase: stack.webdavUrl,
      dmp: FACILITY_DMP,
      mqttUrl: MQTT_URL,
      mqttTopicPrefix: `test/ow/${process.pid}`,
    };
    await platform.ow.packages.create({
      name: "facility",
      package: { parameters: Object.entries(params).map(([key, value]) => ({ key, value })) },
    });
    for (const fn of FUNCTIONS) {
      await platform.ow.actions.create({
        name: `facility/${fn}`,
        action: readFileSync(join(bundles, `${fn}.zip`)),
        kind: "nodejs:20",
        limits: { timeout: 60_000, memory: 512 },
      });
    }
    await platform.ow.actions.create({
      name: "facility/ingest",
      action: {
        exec: {
          kind: "sequence",
          components: ["checksum", "metadata", "catalogue", "placement", "accounting"].map((f) => `/guest/facility/${f}`),
        },
      },
    });
    await writeNexus(join(stack.dir, "scan.nxs"), { title: "OW scan", frames: [4, 64, 64], users: [{ name: "Grace Hopper" }] });
    nexus = readFileSync(join(stack.dir, "scan.nxs"));
    await upload(stack.webdavUrl, "/raw/scan.nxs", nexus);
  });

  after(async () => {
    await clearRetained(`test/ow/${process.pid}`).catch(() => undefined);
    await platform?.stop();
    if (platform) removeDir(platform.dataDir);
    await stack?.stop();
  });

  it("the ingest sequence runs checksum → metadata → catalogue → placement → accounting on a trigger batch", async () => {
    const activation = await platform.ow.actions.invoke({
      name: "facility/ingest",
      blocking: true,
      params: { events: [cloudEvent("/raw/scan.nxs", "1")] },
    });
    const result = activation.response.result;
    expect(activation.response.success, JSON.stringify(result)).to.equal(true);
    const f = result.files[0];
    expect(f.adler32).to.equal(adler32Hex(nexus));
    expect(f.metadata.nexus.entries[0].title).to.equal("OW scan");
    expect(f.catalogue.action).to.equal("created");
    expect(f.placement.replica).to.equal("registered");
    expect(result.accounting.published).to.equal(1);
    expect(result.steps.map((s: { function: string }) => s.function)).to.deep.equal([
      "checksum",
      "metadata",
      "catalogue",
      "placement",
      "accounting",
    ]);
    expect(result.steps.every((s: { activationId?: string }) => /^[0-9a-f]{32}$/.test(s.activationId ?? ""))).to.equal(true);
    // Secrets are package parameters: they reach each action, never its result or logs.
    expect(JSON.stringify(result)).to.not.include("dcachePassword").and.not.include('ingestor"');
    for (const id of activation.logs as string[]) {
      const logs = (await platform.ow.activations.logs({ name: id })).logs as string[];
      expect(logs.join("\n")).to.not.match(/demo:demo|ZGVtbzpkZW1v|scicatPassword/);
    }
  });

  it("a replayed batch updates the catalogue entry and leaves Rucio as it was", async () => {
    const activation = await platform.ow.actions.invoke({
      name: "facility/ingest",
      blocking: true,
      params: { events: [cloudEvent("/raw/scan.nxs", "1")] },
    });
    const f = activation.response.result.files[0];
    expect(f.catalogue.action).to.equal("updated");
    expect(f.placement.replica).to.equal("existed");
  });

  it("derive as a single action writes its preview back to storage", async () => {
    const direct = await platform.ow.actions.invoke({
      name: "facility/derive",
      blocking: true,
      result: true,
      params: { path: "/raw/scan.nxs" },
    });
    expect(direct.files[0].derived[0].path).to.equal("/raw/derived/scan.nxs.preview.png");
  });

  it("a checksum mismatch fails that file at checksum; the sequence carries it to the end in `failed`", async () => {
    await upload(stack.webdavUrl, "/raw/rotten.nxs", nexus);
    const fsPath = join(stack.root, "/raw/rotten.nxs");
    // Bit rot behind dCache's back: same size and timestamps, so dCache keeps its old checksum.
    execFileSync("touch", ["-r", fsPath, `${fsPath}.times`]);
    const fd = openSync(fsPath, "r+");
    writeSync(fd, Buffer.from("rot"), 0, 3, 3000);
    closeSync(fd);
    execFileSync("touch", ["-r", `${fsPath}.times`, fsPath]);
    const r = await platform.http("POST", "/api/v1/namespaces/guest/actions/facility/ingest?blocking=true", {
      events: [cloudEvent("/raw/rotten.nxs", "2")],
    });
    expect(r.status).to.equal(200);
    expect(r.body.response.success).to.equal(true);
    const result = r.body.response.result;
    expect(result.files).to.deep.equal([]);
    expect(result.failed).to.have.length(1);
    expect(result.failed[0]).to.include({ path: "/raw/rotten.nxs", step: "checksum", permanent: true });
    expect(result.failed[0].reason)
      .to.include(adler32Hex(nexus))
      .and.include(adler32Hex(readFileSync(fsPath)));
    // every step ran (the failed file skipped by the later ones), accounting recorded it
    expect(result.steps.map((st: { function: string }) => st.function)).to.deep.equal([
      "checksum",
      "metadata",
      "catalogue",
      "placement",
      "accounting",
    ]);
    expect(r.body.logs).to.have.length(5);
  });
});
