// Per-file outcomes through the standard sequence, run from the built bundles against the real local
// peers: one bad file never sinks its batch, files whose bytes break their name's promise fail
// permanently and are never catalogued or placed, and a file changed after registration is a
// visible failure (or, with reprocessChanged, updates SciCat and Rucio alike).
import { scicatToken } from "../e2e/support.ts";
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { readFileSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { adler32Hex } from "../../lib/checksum/adler32.ts";
import { uuidV5 } from "../../functions/_shared/pid.ts";
import { buildBundles, runBundle } from "./support/bundles.ts";
import { writeCbf, writeNexus } from "./support/samples.ts";
import { cloudEvent, DCACHE_AUTH, RUCIO_AUTH, SCICAT_AUTH, FACILITY_DMP, startStack, upload, type Stack } from "./support/stack.ts";

const SEQUENCE = ["checksum", "metadata", "catalogue", "placement"];

describe("functions: per-file outcomes, strict formats, write-once", function () {
  this.timeout(180_000);
  let bundles: string;
  let stack: Stack;
  let params: Record<string, Record<string, unknown>>;
  let token: string;
  let rucioToken: string;

  /** Runs the sequence as OpenWhisk does: each result merged over the next action's parameters; stops at an {error}. */
  async function sequence(input: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<Record<string, any>> {
    let payload = input;
    for (const fn of SEQUENCE) {
      const run = await runBundle(bundles, fn, { ...params[fn], ...extra, ...payload });
      expect(run.result.error, `${fn}: ${String(run.result.error)}`).to.equal(undefined);
      payload = run.result;
    }
    return payload;
  }

  async function dataset(path: string): Promise<{ status: number; blocks: any[] }> {
    const pid = encodeURIComponent(`20.500.12269/${uuidV5(path)}`);
    const auth = { Authorization: `Bearer ${token}` };
    const d = await fetch(`${stack.scicatUrl}/api/v3/datasets/${pid}`, { headers: auth });
    const body = d.status === 200 ? await d.text() : "";
    if (d.status !== 200 || !body) return { status: 404, blocks: [] };
    const blocks = (await (await fetch(`${stack.scicatUrl}/api/v3/datasets/${pid}/origdatablocks`, { headers: auth })).json()) as any[];
    return { status: 200, blocks };
  }

  async function rucioDid(path: string): Promise<{ status: number; bytes?: number; adler32?: string }> {
    const r = await fetch(`${stack.rucioUrl}/dids/raw/${encodeURIComponent(path)}/meta`, { headers: { "X-Rucio-Auth-Token": rucioToken } });
    if (r.status !== 200) return { status: r.status };
    const j = (await r.json()) as { bytes: number; adler32: string };
    return { status: 200, bytes: j.bytes, adler32: j.adler32 };
  }

  before(async () => {
    bundles = buildBundles(SEQUENCE);
    stack = await startStack();
    const storage = { webdavUrl: stack.webdavUrl, frontendUrl: stack.frontendUrl, ...DCACHE_AUTH };
    params = {
      checksum: storage,
      metadata: storage,
      catalogue: {
        scicatUrl: stack.scicatUrl,
        ...SCICAT_AUTH,
        ownerGroup: "p11",
        pidPrefix: "20.500.12269",
        contactEmail: "pi@example.org",
        principalInvestigator: "PI",
        creationLocation: "P11",
      },
      placement: {
        rucioUrl: stack.rucioUrl,
        ...RUCIO_AUTH,
        scope: "raw",
        bufferRse: "DCACHE-BUFFER",
        ...storage,
        pfnBase: stack.webdavUrl,
        dmp: FACILITY_DMP,
      },
    };
    token = await scicatToken(stack.scicatUrl);
    rucioToken = (
      await fetch(`${stack.rucioUrl}/auth/userpass`, {
        headers: { "X-Rucio-Account": "demo", "X-Rucio-Username": "demo", "X-Rucio-Password": "demo" },
      })
    ).headers.get("x-rucio-auth-token")!;
  });

  after(async () => {
    await stack?.stop();
  });

  it("a mixed batch: good files reach SciCat and Rucio; truncated, random, empty and bad-header files fail with precise reasons; a deleted one is skipped", async () => {
    const dir = "/mixed";
    const good: Record<string, Buffer> = {};
    for (const n of [1, 2, 3]) {
      const local = join(stack.dir, `good-${n}.nxs`);
      await writeNexus(local, { title: `scan ${n}`, run: String(n), frames: [2, 16, 16] });
      good[`${dir}/good-${n}.nxs`] = readFileSync(local);
    }
    for (const [path, bytes] of Object.entries(good)) await upload(stack.webdavUrl, path, bytes);
    await upload(stack.webdavUrl, `${dir}/notes.txt`, Buffer.from("shift log\n"));
    const first = good[`${dir}/good-1.nxs`]!;
    await upload(stack.webdavUrl, `${dir}/truncated.nxs`, first.subarray(0, Math.floor(first.length / 3)));
    await upload(stack.webdavUrl, `${dir}/random.nxs`, randomBytes(50_000));
    await upload(stack.webdavUrl, `${dir}/empty.nxs`, Buffer.alloc(0));
    await upload(stack.webdavUrl, `${dir}/not-a.cbf`, Buffer.from("this is a text file that someone named .cbf\n"));
    await upload(stack.webdavUrl, `${dir}/deleted.nxs`, first);
    unlinkSync(join(stack.root, `${dir}/deleted.nxs`));

    const names = [
      "good-1.nxs",
      "truncated.nxs",
      "good-2.nxs",
      "random.nxs",
      "empty.nxs",
      "not-a.cbf",
      "deleted.nxs",
      "good-3.nxs",
      "notes.txt",
    ];
    const out = await sequence({ events: names.map((n, i) => cloudEvent(`${dir}/${n}`, `m${i}`)) });

    const done = (out.files as any[]).map((f) => f.path).sort();
    expect(done).to.deep.equal([...Object.keys(good), `${dir}/notes.txt`].sort());
    for (const [path, bytes] of Object.entries(good)) {
      const f = (out.files as any[]).find((x) => x.path === path);
      expect(f.catalogue.action).to.equal("created");
      expect(f.placement.replica).to.equal("registered");
      expect(await rucioDid(path)).to.deep.equal({ status: 200, bytes: bytes.length, adler32: adler32Hex(bytes) });
      expect((await dataset(path)).status).to.equal(200);
    }
    const failed = Object.fromEntries((out.failed as any[]).map((f) => [f.path.slice(dir.length + 1), f]));
    expect(Object.keys(failed).sort()).to.deep.equal(["empty.nxs", "not-a.cbf", "random.nxs", "truncated.nxs"]);
    for (const f of Object.values(failed)) expect(f).to.include({ step: "metadata", permanent: true });
    expect(failed["truncated.nxs"].reason).to.match(/truncated\.nxs is not a readable HDF5 file/);
    expect(failed["random.nxs"].reason).to.match(
      /random\.nxs: expected HDF5 \(NeXus\) but found no known signature \(first bytes [0-9a-f ]+\)/,
    );
    expect(failed["empty.nxs"].reason).to.match(/empty\.nxs: empty file \(0 bytes\)/);
    expect(failed["not-a.cbf"].reason).to.match(/not-a\.cbf: expected a CBF image .* but found no known signature/);
    expect(failed["truncated.nxs"].event.id).to.equal("m1");
    expect(out.skipped).to.deep.equal([{ path: `${dir}/deleted.nxs`, reason: "not found in storage (deleted after the event?)" }]);
    // never catalogued, never placed
    for (const n of Object.keys(failed)) {
      expect((await dataset(`${dir}/${n}`)).status, n).to.equal(404);
      expect((await rucioDid(`${dir}/${n}`)).status, n).to.equal(404);
    }
    expect((out.steps as any[]).map((s) => [s.function, s.outcome, s.failed ?? 0])).to.deep.equal([
      ["checksum", "ok", 0],
      ["metadata", "ok", 4],
      ["catalogue", "ok", 0],
      ["placement", "ok", 0],
    ]);
  });

  it("appended after ingest: a permanent 'changed after registration' failure with both sizes and checksums; SciCat and Rucio keep agreeing", async () => {
    const local = join(stack.dir, "frame.cbf");
    writeCbf(local, 64, 32);
    const v1 = readFileSync(local);
    const path = "/appends/frame_0001.cbf";
    await upload(stack.webdavUrl, path, v1);
    const first = await sequence({ events: [cloudEvent(path, "a1")] });
    expect(first.files).to.have.length(1);

    // the writer appends and closes again
    const v2 = Buffer.concat([v1, Buffer.alloc(3000, 7)]);
    await upload(stack.webdavUrl, path, v2);
    const second = await sequence({ events: [cloudEvent(path, "a2")] });
    expect(second.files).to.deep.equal([]);
    const f = (second.failed as any[])[0];
    expect(f).to.include({ path, step: "catalogue", permanent: true });
    expect(f.reason)
      .to.include("changed after registration")
      .and.include(String(v1.length))
      .and.include(String(v2.length))
      .and.include(adler32Hex(v1))
      .and.include(adler32Hex(v2));

    const blocks = (await dataset(path)).blocks;
    const registered = blocks[0].dataFileList[0];
    expect(registered).to.include({ size: v1.length, chk: adler32Hex(v1) });
    expect(await rucioDid(path)).to.deep.equal({ status: 200, bytes: v1.length, adler32: adler32Hex(v1) });
  });

  it("overwritten after ingest with reprocessChanged: SciCat's datablock and Rucio's DID both show the new content", async () => {
    const path = "/overwrite/run.nxs";
    const a = join(stack.dir, "over-a.nxs");
    const b = join(stack.dir, "over-b.nxs");
    await writeNexus(a, { title: "first", run: "1", frames: [1, 8, 8] });
    await writeNexus(b, { title: "second take", run: "1", frames: [3, 16, 16] });
    const v1 = readFileSync(a);
    const v2 = readFileSync(b);
    await upload(stack.webdavUrl, path, v1);
    await sequence({ events: [cloudEvent(path, "o1")] });
    await upload(stack.webdavUrl, path, v2);

    // placement alone with a stale catalogue: Rucio's FileConsistencyMismatch is also a visible failure
    const stale = await runBundle(bundles, "placement", {
      ...params.placement,
      files: [{ path, size: v2.length, adler32: adler32Hex(v2) }],
    });
    expect((stale.result.failed as any[])[0].reason).to.match(
      /changed after registration: Rucio has raw:\/overwrite\/run\.nxs with size \d+ ADLER32 [0-9a-f]{8}/,
    );

    const out = await sequence({ events: [cloudEvent(path, "o2")] }, { reprocessChanged: true });
    expect(out.failed ?? []).to.deep.equal([]);
    expect((out.files as any[])[0].catalogue.action).to.equal("updated");
    expect((out.files as any[])[0].placement.replica).to.equal("existed");
    const registered = (await dataset(path)).blocks[0].dataFileList[0];
    expect(registered).to.include({ size: v2.length, chk: adler32Hex(v2) });
    expect(await rucioDid(path)).to.deep.equal({ status: 200, bytes: v2.length, adler32: adler32Hex(v2) });
  });
});
