// `npm run demo`: with `npm start` running, writes a few detector files into storage — two uploaded
// through WebDAV, two copied straight into the data folder as an instrument would — and reports what
// the pipeline made of each: checksum, metadata, SciCat dataset, derived preview, and — once the
// lifecycle step archived it as the beamtime's data management plan (a dmp.json the demo writes
// asks for two archive copies) says — where its replicas are and the state of each Rucio rule.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import openwhisk, { type Activation, type Dict } from "openwhisk";
import { writeCbf, writeEdf, writeNexus } from "../samples/detector-files.ts";
import { rucioToken, rucioView, viewLines } from "./rucio-view.ts";
import { GUEST_AUTH } from "./stack.ts";

interface Endpoints {
  OW_APIHOST: string;
  DCACHE_WEBDAV_URL: string;
  RUCIO_URL: string;
  DATA_DIR: string;
}

type Rec = Activation<Dict> & { cause?: string };
const annotation = (a: Rec, key: string) => a.annotations?.find((x) => x.key === key)?.value;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { state: { type: "string", default: process.env.STACK_STATE_DIR ?? ".local" }, timeout: { type: "string", default: "120" } },
  });
  const file = resolve(values.state!, "endpoints.json");
  if (!existsSync(file))
    throw new Error(`no running stack found (${file} is missing): start it first with \`npm start\` in another terminal`);
  const ep = JSON.parse(readFileSync(file, "utf8")) as Endpoints;
  const ow = openwhisk({ apihost: ep.OW_APIHOST, api_key: GUEST_AUTH });
  try {
    await ow.namespaces.list();
  } catch {
    throw new Error(`the stack in ${values.state} does not answer at ${ep.OW_APIHOST}: is \`npm start\` still running?`);
  }

  const run = `demo-${new Date().toISOString().replace(/[-:]/g, "").slice(0, 15)}`;
  const tmp = mkdtempSync(join(tmpdir(), "demo-"));
  const made = {
    "frame.nxs": () =>
      writeNexus(join(tmp, "frame.nxs"), {
        title: "AgBehenate calibration",
        proposal: "p00042",
        run: "17",
        instrument: "P11",
        sample: "AgBe",
        frames: [1, 64, 64],
      }),
    "scan.nxs": () =>
      writeNexus(join(tmp, "scan.nxs"), {
        title: "Temperature scan",
        proposal: "p00042",
        run: "18",
        instrument: "P11",
        sample: "lysozyme",
      }),
    "image.cbf": () => writeCbf(join(tmp, "image.cbf")),
    "image.edf": () => writeEdf(join(tmp, "image.edf")),
  };
  for (const make of Object.values(made)) await make();

  const dir = `/beamtime/raw/${run}`;
  const started = Date.now();
  const paths: string[] = [];
  // Two files uploaded through the WebDAV door…
  const auth = `Basic ${Buffer.from("demo:demo").toString("base64")}`;
  await fetch(`${ep.DCACHE_WEBDAV_URL}/beamtime/`, { method: "MKCOL", headers: { authorization: auth } });
  await fetch(`${ep.DCACHE_WEBDAV_URL}/beamtime/raw/`, { method: "MKCOL", headers: { authorization: auth } });
  const mk = await fetch(`${ep.DCACHE_WEBDAV_URL}${dir}/`, { method: "MKCOL", headers: { authorization: auth } });
  if (mk.status !== 201) throw new Error(`WebDAV MKCOL ${dir} answered ${mk.status}`);
  // the beamtime's data management plan (docs/lifecycle.md): two archive copies, buffer freed at once
  const dmp = {
    version: 1,
    id: `demo beamtime ${run}`,
    owner: { ownerGroup: "p00042", contactEmail: "pi@example.org", principalInvestigator: "Demo PI" },
    archive: { rseExpression: "type=archive", copies: 2 },
    buffer: { keepDaysAfterArchive: 0 },
    embargoUntil: "2030-01-01",
  };
  const put = await fetch(`${ep.DCACHE_WEBDAV_URL}${dir}/dmp.json`, {
    method: "PUT",
    headers: { authorization: auth },
    body: JSON.stringify(dmp, null, 2),
  });
  if (put.status !== 201) throw new Error(`WebDAV PUT ${dir}/dmp.json answered ${put.status}`);
  console.log(`plan      ${dir}/dmp.json (archive: 2 copies on type=archive)`);
  for (const name of ["frame.nxs", "image.cbf"]) {
    const res = await fetch(`${ep.DCACHE_WEBDAV_URL}${dir}/${name}`, {
      method: "PUT",
      headers: { authorization: auth },
      body: readFileSync(join(tmp, name)),
    });
    if (res.status !== 201) throw new Error(`WebDAV PUT ${dir}/${name} answered ${res.status}`);
    paths.push(`${dir}/${name}`);
    console.log(`uploaded  ${dir}/${name} (WebDAV PUT)`);
  }
  // …and two copied into the data folder, as an instrument writing to a mounted dCache would.
  mkdirSync(join(ep.DATA_DIR, dir), { recursive: true });
  for (const name of ["scan.nxs", "image.edf"]) {
    copyFileSync(join(tmp, name), join(ep.DATA_DIR, dir, name));
    paths.push(`${dir}/${name}`);
    console.log(`copied    ${dir}/${name} (into ${join(ep.DATA_DIR, dir)})`);
  }

  console.log("\nwaiting for the pipeline …");
  const deadline = started + Number(values.timeout) * 1000;
  const done = new Map<string, Dict>();
  const failed = new Map<string, string>();
  const derived = new Map<string, string[]>();
  const archived = new Map<string, string>();
  // done: every file through ingest (or failed) and every ingested file through lifecycle
  const finished = () => done.size + failed.size >= paths.length && [...done.keys()].every((p) => archived.has(p) || failed.has(p));
  while (Date.now() < deadline && !finished()) {
    await new Promise((r) => setTimeout(r, 1000));
    const recs = (await ow.activations.list({ docs: true, since: started - 1000, limit: 200 } as never)) as unknown as Rec[];
    for (const a of recs) {
      const name = String(annotation(a, "path") ?? "");
      const result = (a.response?.result ?? {}) as Dict;
      const filesOf = ((result.files ?? []) as Array<{ path: string }>).map((f) => f.path);
      if (name.endsWith("/facility-dev-ingest")) {
        for (const f of (result.files ?? []) as Dict[]) if (paths.includes(f.path)) done.set(f.path, f);
        if (!a.response?.success) for (const p of paths) if (JSON.stringify(result).includes(p)) failed.set(p, String(result.error));
      }
      if (name.endsWith("/facility/lifecycle")) {
        for (const f of (result.files ?? []) as Array<{ path: string; lifecycle?: { archive: { rses: string[] } } }>) {
          if (f.lifecycle) archived.set(f.path, f.lifecycle.archive.rses.join(", "));
        }
      }
      if (name.endsWith("/facility/derive")) {
        for (const f of (result.files ?? []) as Array<{ path: string; derived?: Array<{ path: string }> }>) {
          if (f.derived)
            derived.set(
              f.path,
              f.derived.map((d) => d.path),
            );
        }
      }
      void filesOf;
    }
  }

  console.log("");
  const token = await rucioToken(ep.RUCIO_URL).catch(() => undefined);
  for (const p of paths) {
    const f = done.get(p);
    if (!f) {
      console.log(
        `${basename(p).padEnd(10)} ${failed.has(p) ? `FAILED: ${failed.get(p)}` : "not processed within the time limit (see npm start's log)"}`,
      );
      continue;
    }
    const cat = f.catalogue as { pid?: string; action?: string } | undefined;
    const md = f.metadata as { format?: string; nexus?: { entries: Array<{ title?: string }> } } | undefined;
    const title = md?.nexus?.entries[0]?.title;
    const pl = f.placement as { scope?: string; name?: string } | undefined;
    console.log(`${basename(p).padEnd(10)} adler32 ${f.adler32}  ${md?.format ?? "?"}${title ? ` "${title}"` : ""}`);
    console.log(
      `${"".padEnd(10)} SciCat ${cat?.pid ?? "-"} (${cat?.action ?? "-"})  ${archived.has(p) ? `archived on ${archived.get(p)}` : "not archived yet"}`,
    );
    const d = derived.get(p);
    if (d?.length) console.log(`${"".padEnd(10)} derived ${d.join(", ")}`);
    if (token && pl?.scope && pl.name)
      for (const l of viewLines(await rucioView(ep.RUCIO_URL, token, pl.scope, pl.name), "".padEnd(11))) console.log(l);
  }
  console.log(
    `\n${done.size}/${paths.length} files through the ingest pipeline, ${archived.size} archived (buffer copy released), in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  if (done.size < paths.length || archived.size < done.size) process.exitCode = 1;
}

main().catch((e: Error) => {
  console.error(`demo: ${e.message}`);
  process.exit(1);
});
