// The data lifecycle end to end (the local stack as `npm start` runs it, real processes): files land
// on the buffer (the folder dCache serves), every pipeline runs, and only then does the lifecycle
// step archive them as their data management plan says and free the buffer copy. Rucio is read only
// through its REST API, as a real one would be; the archive bytes are checked against the original
// files with an ADLER32 computed here, byte by byte from RFC 1950 (independent of lib/checksum).
import { expect } from "chai";
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import type { LocalStack } from "../../scripts/stack/stack.ts";
import { rucioToken, rucioView, type RucioView } from "../../scripts/stack/rucio-view.ts";
import { scicatToken, startStack, until, rawFilesApi } from "./support.ts";

const testdata = join(import.meta.dirname, "../data/nexus");
const GOOD = readdirSync(testdata).filter((n) => !n.endsWith(".md"));

type FileView = {
  path: string;
  state: string;
  step?: string;
  reason?: string;
  permanent?: boolean;
  rules: Record<string, { state: string; action: string }>;
};

function adler32(b: Uint8Array): string {
  let a = 1;
  let s = 0;
  for (const x of b) {
    a = (a + x) % 65521;
    s = (s + a) % 65521;
  }
  return (((s << 16) | a) >>> 0).toString(16).padStart(8, "0");
}

describe("end to end: buffer → pipelines → archive, as each file's data management plan says", function () {
  this.timeout(900_000);
  let stack: LocalStack;
  let token: string;

  const provider = (path: string, init: RequestInit = {}) => rawFilesApi(stack, path, init);
  const files = async (prefix: string): Promise<FileView[]> =>
    ((await (await provider(`/files?prefix=${encodeURIComponent(prefix)}&limit=1000`)).json()) as { files: FileView[] }).files;
  const settled = (prefix: string, n: number) =>
    until(
      `${n} files under ${prefix} processed or failed`,
      async () => {
        const f = await files(prefix);
        return f.length === n && f.every((x) => ["succeeded", "failed", "skipped"].includes(x.state)) ? f : undefined;
      },
      300_000,
      stack,
    );
  const view = (path: string) => rucioView(stack.endpoints.RUCIO_URL, token, "raw", path);
  const write = (path: string, content: string | Buffer) => {
    mkdirSync(join(stack.data, path, ".."), { recursive: true });
    writeFileSync(join(stack.data, path), content);
  };
  const archiveRules = (v: RucioView) => v.rules.filter((r) => r.rse_expression !== "DCACHE-BUFFER");

  /** A good file: archive rule OK with `copies` copies whose bytes are the original's; no buffer copy left. */
  async function expectArchived(path: string, original: Buffer, copies: number): Promise<void> {
    const v = await until(
      `${path}: buffer replica reaped`,
      async () => {
        const x = await view(path);
        return x && !x.replicas.some((r) => r.rse === "DCACHE-BUFFER") ? x : undefined;
      },
      30_000,
      stack,
    );
    expect(archiveRules(v), path).to.have.length(1);
    expect(archiveRules(v)[0]).to.include({ state: "OK", copies });
    expect(
      v.rules.filter((r) => r.rse_expression === "DCACHE-BUFFER"),
      `${path}: buffer protection released`,
    ).to.deep.equal([]);
    expect(v.replicas, path).to.have.length(copies);
    for (const r of v.replicas) {
      expect(r.state).to.equal("AVAILABLE");
      expect(["TAPE-ARCHIVE", "OFFSITE-ARCHIVE"]).to.include(r.rse);
      const file = fileURLToPath(r.pfn);
      expect(file.startsWith(`${join(stack.rseRoot, r.rse)}/`), `${r.pfn} in the archive folder`).to.equal(true);
      expect(adler32(readFileSync(file)), `${path} at ${r.rse}`).to.equal(adler32(original));
    }
    expect(existsSync(join(stack.data, path)), `${path}: bytes gone from the buffer`).to.equal(false);
  }

  before(async () => {
    process.env.SKIP_TYPECHECK = "1";
    ({ stack } = await startStack());
    token = await rucioToken(stack.endpoints.RUCIO_URL);
  });
  after(() => stack?.stop());

  it("a stream of good and bad files: good ones end archived with the right ADLER32 and no buffer copy; bad ones keep their buffer copy and get no archive rule", async () => {
    const bad = { "truncated.nxs": readFileSync(join(testdata, GOOD[0]!)).subarray(0, 100_000), "random.nxs": randomBytes(40_000) };
    mkdirSync(join(stack.data, "life/plain"), { recursive: true });
    for (const [i, n] of GOOD.entries()) {
      copyFileSync(join(testdata, n), join(stack.data, "life/plain", n));
      if (i === 1) for (const [b, content] of Object.entries(bad)) write(`/life/plain/${b}`, content);
    }
    const all = await settled("/life/plain/", GOOD.length + 2);
    const byName = Object.fromEntries(all.map((f) => [f.path.slice("/life/plain/".length), f]));
    for (const n of GOOD) {
      expect(byName[n]!.state, `${n}: ${byName[n]!.reason}`).to.equal("succeeded");
      // the lifecycle ran once ingest and derive had succeeded
      expect(
        Object.values(byName[n]!.rules)
          .map((r) => r.action)
          .some((a) => a.endsWith("/facility/lifecycle")),
      ).to.equal(true);
      await expectArchived(`/life/plain/${n}`, readFileSync(join(testdata, n)), 1);
    }
    for (const [b, content] of Object.entries(bad)) {
      expect(byName[b]).to.include({ state: "failed", permanent: true });
      expect(
        Object.keys(byName[b]!.rules).some((k) => k.startsWith("finally:")),
        `${b}: no lifecycle step`,
      ).to.equal(false);
      expect(await view(`/life/plain/${b}`), `${b}: no archive rule`).to.equal(undefined);
      expect(adler32(readFileSync(join(stack.data, "life/plain", b))), `${b}: buffer copy kept`).to.equal(adler32(content));
    }
    // the catalogue records which plan applied: the facility's
    const sci = await scicatToken(stack.endpoints.SCICAT_URL);
    const ds = (await (
      await fetch(`${stack.endpoints.SCICAT_URL}/api/v3/datasets`, { headers: { authorization: `Bearer ${sci}` } })
    ).json()) as Array<{ sourceFolder: string; scientificMetadata?: { dataManagementPlan?: { source: string } } }>;
    const plain = ds.filter((d) => d.sourceFolder === "/life/plain");
    expect(plain).to.have.length(GOOD.length);
    for (const d of plain) expect(d.scientificMetadata?.dataManagementPlan?.source).to.equal("parameter dmp");
  });

  it("a malformed dmp.json fails its files with the reason; fixed (two archive copies) and retried, they follow the good path with two copies", async () => {
    write(
      "/life/fixme/dmp.json",
      '{"version": 1, "id": "beamtime 42", "owner": {"ownerGroup": "p42"}, "archive": {"rseExpression": "type=archive", "copies": "two"}}',
    );
    const names = GOOD.slice(0, 2);
    mkdirSync(join(stack.data, "life/fixme"), { recursive: true });
    for (const n of names) copyFileSync(join(testdata, n), join(stack.data, "life/fixme", n));
    const failed = await settled("/life/fixme/", names.length);
    for (const f of failed) {
      expect(f).to.include({ state: "failed", step: "catalogue", permanent: true });
      expect(f.reason).to.match(/data management plan \/life\/fixme\/dmp\.json is not valid: archive\.copies must be integer/);
      expect(await view(f.path), `${f.path}: not in Rucio`).to.equal(undefined);
      expect(existsSync(join(stack.data, f.path)), `${f.path}: buffer copy kept`).to.equal(true);
    }
    write(
      "/life/fixme/dmp.json",
      JSON.stringify({
        version: 1,
        id: "beamtime 42",
        owner: { ownerGroup: "p42", principalInvestigator: "Ada" },
        pipelines: ["ingest", "derive"],
        archive: { rseExpression: "type=archive", copies: 2 },
      }),
    );
    const retry = await provider("/files/retry", { method: "POST", body: JSON.stringify({ prefix: "/life/fixme/" }) });
    expect(retry.status).to.equal(200);
    const done = await until(
      "retried files succeeded",
      async () => {
        const f = await files("/life/fixme/");
        return f.every((x) => x.state === "succeeded") ? f : undefined;
      },
      300_000,
      stack,
    );
    expect(done).to.have.length(names.length);
    for (const n of names) await expectArchived(`/life/fixme/${n}`, readFileSync(join(testdata, n)), 2);
  });

  it("a plan Rucio refuses (no RSE matches its archive expression): the file fails at lifecycle with the reason, keeps its protected buffer copy and has no archive rule", async () => {
    write(
      "/life/nowhere/dmp.json",
      JSON.stringify({ version: 1, id: "nowhere", owner: { ownerGroup: "p7" }, archive: { rseExpression: "type=nowhere" } }),
    );
    const n = GOOD[2]!;
    mkdirSync(join(stack.data, "life/nowhere"), { recursive: true });
    copyFileSync(join(testdata, n), join(stack.data, "life/nowhere", n));
    const [f] = await settled("/life/nowhere/", 1);
    expect(f).to.include({ state: "failed", step: "lifecycle", permanent: true });
    expect(f!.reason).to.match(
      /Rucio refused the archive rule of its data management plan \/life\/nowhere\/dmp\.json \(InvalidRSEExpression/,
    );
    const v = (await view(`/life/nowhere/${n}`))!;
    expect(archiveRules(v)).to.deep.equal([]);
    expect(v.rules.map((r) => [r.rse_expression, r.state, r.expires_at])).to.deep.equal([["DCACHE-BUFFER", "OK", null]]);
    expect(v.replicas.map((r) => r.rse)).to.deep.equal(["DCACHE-BUFFER"]);
    expect(adler32(readFileSync(join(stack.data, "life/nowhere", n)))).to.equal(adler32(readFileSync(join(testdata, n))));
  });

  it("a plan requiring a pipeline the trigger does not run: the file fails at lifecycle naming it and what ran (the ledger passes each rule's outcome)", async () => {
    write(
      "/life/reduce/dmp.json",
      JSON.stringify({
        version: 1,
        id: "needs reduce",
        owner: { ownerGroup: "p8" },
        pipelines: ["ingest", "reduce"],
        archive: { rseExpression: "TAPE-ARCHIVE" },
      }),
    );
    const n = GOOD[3]!;
    copyFileSync(join(testdata, n), join(stack.data, "life/reduce", n));
    const [f] = await settled("/life/reduce/", 1);
    expect(f).to.include({ state: "failed", step: "lifecycle", permanent: true });
    expect(f!.reason).to.match(
      /requires pipeline\(s\) reduce to succeed, but the trigger's rules that ran for it are: .*guest\/facility-dev-ingest \(succeeded\)/,
    );
    expect(f!.reason).to.match(/guest\/facility\/derive \((succeeded|skipped)\)/);
    const v = (await view(`/life/reduce/${n}`))!;
    expect(archiveRules(v)).to.deep.equal([]);
    expect(existsSync(join(stack.data, "life/reduce", n))).to.equal(true);
  });
});
