// The pipeline's web page with 10,000 files in the feed provider's ledger, in headless Chromium
// (Debian's, through playwright-core): time until the Files view shows them all, the page's JS heap
// and DOM size then, and the view server's /api/files time. Baseline in the same run: the same page
// showing a prefix with no file. Needs /usr/bin/chromium (or CHROMIUM_PATH).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteStore } from "../../feeds/provider/store/sqlite.ts";
import type { FileEntry } from "../../feeds/provider/ledger/types.ts";
import { LocalStack, GUEST_AUTH } from "../stack/stack.ts";
import { startViewServer } from "../view/server.ts";
import { openBrowser } from "../../test/view/browser.ts";
import { report, summarise } from "./report.ts";

const N = 10_000;
const ROUNDS = 3;

function entries(): FileEntry[] {
  const now = Date.now();
  return Array.from({ length: N }, (_, i) => {
    const path = `/beamtime/raw/run-${String(Math.floor(i / 100)).padStart(3, "0")}/scan-${String(i).padStart(5, "0")}.nxs`;
    const failed = i % 15 === 0;
    const e: FileEntry = {
      regId: "guest/raw-files",
      path,
      state: failed ? "failed" : "succeeded",
      event: JSON.stringify({
        specversion: "1.0",
        id: `bench-${i}`,
        source: "bench",
        type: "org.dcache.storage.IN_CLOSE_WRITE",
        subject: path,
        time: new Date(now).toISOString(),
      }),
      eventIds: [`bench-${i}`],
      size: 1_000_000 + i,
      mtime: now - 60_000,
      arrivedAt: now - 50_000,
      updatedAt: now - 40_000 + i,
      rules: { "guest/facility-dev-ingest": { action: "guest/facility-dev-ingest", state: failed ? "failed" : "succeeded", attempt: 1 } },
    };
    if (failed)
      Object.assign(e, { step: "metadata", reason: `${path}: expected HDF5 (NeXus) but found no known signature`, permanent: true });
    return e;
  });
}

async function main(): Promise<void> {
  process.env.SKIP_TYPECHECK = "1";
  const stack = LocalStack.onFreePorts(mkdtempSync(join(tmpdir(), "bench-view-")));
  await stack.start();
  await stack.serverless(["deploy"]);
  // the ledger filled while the provider is down, as if 10,000 files had been processed
  await stack.restart("provider", "SIGTERM", 0, () => {
    const store = new SqliteStore(join(stack.state, "provider", "provider.sqlite"));
    void store.putFiles("guest/raw-files", entries());
    void store.close();
  });
  const view = await startViewServer({
    host: "127.0.0.1",
    port: 0,
    openwhisk: { apihost: stack.endpoints.OW_APIHOST, auth: GUEST_AUTH },
    provider: { url: stack.endpoints.PROVIDER_URL, auth: stack.endpoints.PROVIDER_AUTH, ownerKey: GUEST_AUTH },
    since: Date.now() - 3_600_000,
  });
  const browser = await openBrowser();
  try {
    const page = browser.page;
    const cdp = await browser.context.newCDPSession(page);
    await cdp.send("Performance.enable");
    const metrics = async () =>
      Object.fromEntries(
        ((await cdp.send("Performance.getMetrics")) as { metrics: Array<{ name: string; value: number }> }).metrics.map((m) => [
          m.name,
          m.value,
        ]),
      );
    const load = async (hash: string, prefix: string, expect: number) => {
      await page.goto("about:blank");
      const t0 = performance.now();
      await page.goto(`${view.url}${hash}?prefix=${encodeURIComponent(prefix)}`);
      await page.waitForSelector(`[data-testid="files-count"][data-count="${expect}"]`, { timeout: 120_000 });
      const ms = performance.now() - t0;
      await cdp.send("HeapProfiler.collectGarbage");
      const m = await metrics();
      return { ms, heapMB: m.JSHeapUsedSize! / 1e6, nodes: m.Nodes! };
    };
    const empty: Array<Awaited<ReturnType<typeof load>>> = [];
    const full: Array<Awaited<ReturnType<typeof load>>> = [];
    const api: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      empty.push(await load("#files", "/nothing/", 0));
      full.push(await load("#files", "/", N));
      const t0 = performance.now();
      const j = (await (await fetch(`${view.url}api/files?prefix=/`)).json()) as { files: unknown[] };
      api.push(performance.now() - t0);
      if (j.files.length !== N) throw new Error(`the view server listed ${j.files.length} files, expected ${N}`);
    }
    const med = (xs: number[]) => summarise(xs).p50;
    const base = { name: "page with 0 files", value: med(empty.map((x) => x.ms)) };
    console.log(
      `page load with ${N} files in the ledger (median of ${ROUNDS}; Chromium ${(await browser.context.browser()?.version()) ?? "?"})`,
    );
    report("Files view, 0 files: load → list shown", base.value, "ms");
    report(`Files view, ${N} files: load → list shown`, med(full.map((x) => x.ms)), "ms", base);
    report(`view server GET /api/files (${N} files)`, med(api), "ms");
    const heap0 = { name: "page with 0 files", value: med(empty.map((x) => x.heapMB)) };
    report("JS heap, 0 files", heap0.value, "MB");
    report(`JS heap, ${N} files`, med(full.map((x) => x.heapMB)), "MB", heap0);
    const nodes0 = { name: "page with 0 files", value: med(empty.map((x) => x.nodes)) };
    report("DOM nodes, 0 files", nodes0.value, "nodes");
    report(`DOM nodes, ${N} files (virtual list)`, med(full.map((x) => x.nodes)), "nodes", nodes0);
  } finally {
    await browser.close();
    await view.close();
    await stack.stop();
  }
}

main().catch((e: Error) => {
  console.error(`view bench: ${e.message}`);
  process.exit(1);
});
