// The pipeline's web page in a real browser (Debian's headless Chromium through playwright-core),
// against the whole local stack: good, bad and derived-producing files show their true state (as
// the feed provider's ledger and SciCat have it), the failed file its reason, the preview an image
// that loads, Retry brings a file that failed for a fixed cause to processed; the Functions view
// lists every deployed action with its parameters and bundle hash; no secret reaches the browser.
import { expect } from "chai";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { writeNexus } from "../../scripts/samples/detector-files.ts";
import { isSecretName, MASK } from "../../scripts/build/secrets.ts";
import { GUEST_AUTH, type LocalStack } from "../../scripts/stack/stack.ts";
import { startViewServer, type ViewServer } from "../../scripts/view/server.ts";
import { scicatToken, startStack, until } from "../e2e/support.ts";
import { openBrowser, poll, requireChromium, screenshot } from "./browser.ts";

const testdata = join(import.meta.dirname, "../data/nexus");

type Ledger = { path: string; state: string; step?: string; reason?: string; permanent?: boolean };

describe("the pipeline's web page, in Chromium, against the local stack", function () {
  this.timeout(900_000);
  let stack: LocalStack;
  let ow: Awaited<ReturnType<typeof startStack>>["ow"];
  let view: ViewServer;
  let browser: Awaited<ReturnType<typeof openBrowser>>;
  let page: Page;
  /** every body the browser received, for the secret check */
  const bodies: Array<{ url: string; body: string }> = [];

  const ledger = async (trigger: string, prefix: string): Promise<Ledger[]> => {
    const r = await fetch(
      `${stack.endpoints.PROVIDER_URL}/api/v1/registrations/guest/${trigger}/files?prefix=${encodeURIComponent(prefix)}&limit=1000`,
      {
        headers: { authorization: `Basic ${Buffer.from(stack.endpoints.PROVIDER_AUTH).toString("base64")}` },
      },
    );
    return ((await r.json()) as { files: Ledger[] }).files;
  };
  const settled = (trigger: string, prefix: string, n: number) =>
    until(
      `${n} files under ${prefix} (${trigger}) out of flight`,
      async () => {
        const f = await ledger(trigger, prefix);
        return f.length === n && f.every((x) => ["succeeded", "failed", "skipped"].includes(x.state)) ? f : undefined;
      },
      300_000,
      stack,
    );

  before(async () => {
    requireChromium();
    process.env.SKIP_TYPECHECK = "1";
    ({ stack, ow } = await startStack());
    view = await startViewServer({
      host: "127.0.0.1",
      port: 0,
      openwhisk: { apihost: stack.endpoints.OW_APIHOST, auth: GUEST_AUTH },
      provider: { url: stack.endpoints.PROVIDER_URL, auth: stack.endpoints.PROVIDER_AUTH, ownerKey: GUEST_AUTH },
      since: Date.now() - 600_000,
    });
    browser = await openBrowser();
    page = browser.page;
    page.on("response", (res) => {
      void res.body().then(
        (b) => bodies.push({ url: res.url(), body: b.toString("latin1") }),
        () => {},
      );
    });
  });
  after(async () => {
    await browser?.close();
    await view?.close();
    await stack?.stop();
  });

  it("shows each file's true state, the failed file's reason and a derived preview that loads", async () => {
    const dir = join(stack.data, "view");
    mkdirSync(dir, { recursive: true });
    const staging = join(stack.state, "staging");
    mkdirSync(staging, { recursive: true });
    // good: a real facility file; bad: not HDF5 at all; derived: a NeXus detector frame derive turns into a PNG
    copyFileSync(join(testdata, "DLS_i16_hdf5_538039.nxs"), join(dir, "good.nxs"));
    writeFileSync(join(staging, "bad.nxs"), randomBytes(20_000));
    await writeNexus(join(staging, "frame.nxs"), { title: "frame for a preview", frames: [1, 48, 64] });
    copyFileSync(join(staging, "bad.nxs"), join(dir, "bad.nxs"));
    copyFileSync(join(staging, "frame.nxs"), join(dir, "frame.nxs"));
    const raw = await settled("raw-files", "/view/", 3);
    // the derived files (preview and summary of frame.nxs) are catalogued by the derived pipeline
    await settled("derived-files", "/view/derived/", 2);
    const truth = Object.fromEntries(raw.map((f) => [f.path, f]));
    expect(truth["/view/good.nxs"]!.state).to.equal("succeeded");
    expect(truth["/view/frame.nxs"]!.state).to.equal("succeeded");
    expect(truth["/view/bad.nxs"]).to.include({ state: "failed", step: "metadata", permanent: true });

    await page.goto(`${view.url}#files`);
    await page.fill('[data-testid="prefix"]', "/view/");
    await page.press('[data-testid="prefix"]', "Enter");
    await page.waitForSelector('.file-row[data-path="/view/bad.nxs"][data-trigger="/guest/raw-files"]');
    await poll("5 file rows", async () => (await page.locator(".file-row").count()) >= 5);
    for (const f of [...raw, ...(await ledger("derived-files", "/view/"))]) {
      const row = page.locator(`.file-row[data-path="${f.path}"]`).first();
      expect(await row.getAttribute("data-state"), f.path).to.equal(f.state);
    }
    const badRow = page.locator('.file-row[data-path="/view/bad.nxs"]');
    const reason = await badRow.locator(".reason").textContent();
    expect(reason).to.include("metadata (permanent)").and.include(truth["/view/bad.nxs"]!.reason!);
    expect(reason).to.match(/expected HDF5 \(NeXus\) but found no known signature/);

    // the derived-producing file: its SciCat dataset and its preview
    await page.click('.file-row[data-path="/view/frame.nxs"] a');
    await page.waitForSelector('[data-testid="preview"]');
    const img = page.locator('[data-testid="preview"]').first();
    type Img = { complete: boolean; naturalWidth: number; naturalHeight: number };
    // loaded or broken: `complete` either way (a broken image has natural size 0)
    await poll("the preview loaded or broken", () => img.evaluate((el) => (el as unknown as Img).complete));
    const size = await img.evaluate((el) => [(el as unknown as Img).naturalWidth, (el as unknown as Img).naturalHeight]);
    expect(size[0], "preview naturalWidth").to.be.above(0);
    expect(size[1], "preview naturalHeight").to.be.above(0);
    await page.click('[data-testid="scicat-link"]');
    await page.waitForSelector(".detail details pre");
    const dataset = JSON.parse((await page.locator(".detail details pre").textContent())!) as {
      dataset: { pid: string; sourceFolder: string };
    };
    const token = await scicatToken(stack.endpoints.SCICAT_URL);
    const fromScicat = (await (
      await fetch(`${stack.endpoints.SCICAT_URL}/api/v3/datasets/${encodeURIComponent(dataset.dataset.pid)}`, {
        headers: { authorization: `Bearer ${token}` },
      })
    ).json()) as { pid: string; datasetName: string };
    expect(dataset.dataset.pid).to.equal(fromScicat.pid);
    expect(dataset.dataset.sourceFolder).to.equal("/view");
    await page.click('[data-testid="rucio-link"]');
    await poll("the Rucio rules shown", async () => (await page.locator(".detail details pre").textContent())?.includes("rse_expression"));
    await screenshot(page, "files");
  });

  it("Retry brings a file that failed for a cause since fixed to processed", async () => {
    // the cause: Rucio refuses the pipeline's credentials (a wrong password in the facility package)
    const pkg = (await ow.packages.get({ name: "facility" })) as unknown as {
      parameters: Array<{ key: string; value: unknown }>;
      publish?: boolean;
    };
    const original = pkg.parameters;
    const broken = original.map((p) => (p.key === "rucioPassword" ? { ...p, value: "not-the-password" } : p));
    await ow.packages.update({ name: "facility", package: { parameters: broken, publish: pkg.publish ?? false } } as never);
    copyFileSync(join(testdata, "DLS_i03_i04_NXmx_hdf5_Therm_6_2.nxs"), join(stack.data, "view", "later.nxs"));
    const failed = await until(
      "later.nxs failed at placement",
      async () => {
        const f = (await ledger("raw-files", "/view/later.nxs")).find((x) => x.path === "/view/later.nxs");
        return f?.state === "failed" ? f : undefined;
      },
      240_000,
      stack,
    );
    expect(failed.step).to.equal("placement");
    expect(failed.reason).to.match(/Rucio login .* refused/);
    // fixed
    await ow.packages.update({ name: "facility", package: { parameters: original, publish: pkg.publish ?? false } } as never);

    await page.goto(`${view.url}#files`);
    await page.fill('[data-testid="prefix"]', "/view/later");
    await page.press('[data-testid="prefix"]', "Enter");
    const row = page.locator('.file-row[data-path="/view/later.nxs"][data-trigger="/guest/raw-files"]');
    await row.waitFor();
    expect(await row.getAttribute("data-state")).to.equal("failed");
    expect(await row.locator(".reason").textContent()).to.include("placement");
    await row.locator("input[type=checkbox]").check();
    await page.click('[data-testid="retry-selected"]');
    const note = await poll(
      "the retry's answer",
      async () => (await page.locator('[data-testid="retry-note"]').textContent()) || undefined,
    );
    expect(note).to.match(/^1 file\(s\) sent again/);
    await page.waitForSelector('.file-row[data-path="/view/later.nxs"][data-trigger="/guest/raw-files"][data-state="succeeded"]', {
      timeout: 240_000,
    });
    const truth = (await ledger("raw-files", "/view/later.nxs")).find((x) => x.path === "/view/later.nxs")!;
    expect(truth.state).to.equal("succeeded");
  });

  it("the Functions view lists every deployed action with its parameters and the deployed bundle hash", async () => {
    await page.goto(`${view.url}#functions`);
    await page.waitForSelector('[data-testid="function"]');
    const deployed = (await ow.actions.list({ limit: 200 })) as unknown as Array<{ name: string; namespace: string }>;
    expect(deployed.length).to.be.above(5);
    for (const a of deployed) {
      const full = `${a.namespace}/${a.name}`;
      const card = page.locator(`[data-testid="function"][data-name="${full}"]`);
      expect(await card.count(), full).to.equal(1);
      const got = (await ow.actions.get({ name: `/${full}` })) as unknown as { annotations: Array<{ key: string; value: unknown }> };
      const ann = (k: string) => got.annotations.find((x) => x.key === k)?.value;
      const prov = ann("provenance") as { bundleSha256: string } | undefined;
      if (prov) expect(await card.locator('[data-testid="bundle-sha"]').textContent(), full).to.equal(prov.bundleSha256);
      const params = (ann("parameters") as Array<{ name: string }> | undefined) ?? [];
      const shown = await card.locator('[data-testid="param"]').evaluateAll((rows) => rows.map((r) => r.getAttribute("data-param")));
      expect(shown, full).to.deep.equal(params.map((p) => p.name));
    }
    // the pipeline's functions carry a catalogue built from their schemas
    const checksum = page.locator('[data-testid="function"][data-name$="/checksum"]');
    expect(await checksum.locator('[data-param="webdavUrl"] td').nth(3).textContent()).to.equal("yes");
    expect(await checksum.locator('[data-param="concurrency"] td').nth(2).textContent()).to.equal("4");
    expect(await checksum.locator('[data-param="dcachePassword"] td').nth(4).textContent()).to.equal(MASK);
    await screenshot(page, "functions");
  });

  it("Live and Health views render; no secret appears in the page's HTML or any network response", async () => {
    await page.goto(`${view.url}#live`);
    await poll("activations in the Live view", async () => Number(await page.locator('[data-testid="live-count"]').textContent()) > 0);
    await screenshot(page, "live");
    // per file: each file's fire, pipelines and end, as the activations tell
    await page.check('[data-testid="by-file"]');
    await page.waitForSelector('.flow[data-path="/view/bad.nxs"]');
    expect(await page.locator('.flow[data-path="/view/bad.nxs"]').getAttribute("data-state")).to.equal("failed");
    expect(await page.locator('.flow[data-path="/view/bad.nxs"] .files').textContent()).to.match(/^metadata: .*expected HDF5/);
    expect(await page.locator('.flow[data-path="/view/good.nxs"]').getAttribute("data-state")).to.equal("ok");
    expect(await page.locator('.flow[data-path="/view/good.nxs"]').textContent()).to.include("facility-dev-ingest");
    await screenshot(page, "live-per-file");
    await page.goto(`${view.url}#health`);
    await page.waitForSelector('[data-testid="chart-throughput"] canvas');
    await page.waitForTimeout(6000);
    await screenshot(page, "health");
    // and back through the Files view with a file open, so its detail's responses are checked too
    await page.goto(`${view.url}#files`);
    await page.waitForSelector(".file-row");

    // every secret the deployment holds: package and trigger parameters with credential names, and the keys
    const secrets = new Set<string>([
      GUEST_AUTH,
      GUEST_AUTH.split(":")[1]!,
      stack.endpoints.PROVIDER_AUTH,
      stack.endpoints.PROVIDER_AUTH.split(":")[1]!,
    ]);
    const named: Array<{ key: string; value: string }> = [];
    const collect = (v: unknown, key = "") => {
      if (Array.isArray(v)) {
        for (const x of v) collect(x, key);
        return;
      }
      if (v && typeof v === "object") {
        const o = v as Record<string, unknown>;
        if (typeof o.key === "string" && "value" in o) collect(o.value, o.key);
        else for (const [k, x] of Object.entries(o)) collect(x, k);
        return;
      }
      if (typeof v === "string" && isSecretName(key) && v) named.push({ key, value: v });
    };
    for (const name of ["facility", "dcache"])
      collect(((await ow.packages.get({ name })) as unknown as { parameters: unknown }).parameters);
    for (const t of ["raw-files", "derived-files"])
      collect(((await ow.triggers.get({ name: t })) as unknown as { parameters: unknown }).parameters);
    expect(named.map((n) => n.key)).to.include.members(["dcachePassword", "scicatPassword", "rucioPassword", "providerAuth"]);
    // a long secret must appear nowhere; one that equals a plain value (the demo SciCat password is
    // its user name, "ingestor") is checked as a key:value pair below
    const plain = new Set<string>();
    const collectPlain = (v: unknown, key = ""): void => {
      if (Array.isArray(v)) {
        for (const x of v) collectPlain(x, key);
        return;
      }
      if (v && typeof v === "object") {
        const o = v as Record<string, unknown>;
        if (typeof o.key === "string" && "value" in o) collectPlain(o.value, o.key);
        else for (const [k, x] of Object.entries(o)) collectPlain(x, k);
        return;
      }
      if (typeof v === "string" && !isSecretName(key)) plain.add(v);
    };
    for (const name of ["facility", "dcache"])
      collectPlain(((await ow.packages.get({ name })) as unknown as { parameters: unknown }).parameters);
    for (const n of named) if (n.value.length >= 8 && !plain.has(n.value)) secrets.add(n.value);
    const html = await page.content();
    expect(bodies.length).to.be.above(10);
    for (const { url, body } of [...bodies, { url: "page HTML", body: html }]) {
      for (const s of secrets)
        expect(body.includes(s), `a secret (${named.find((n) => n.value === s)?.key ?? "a key"}) in ${url}`).to.equal(false);
      // short demo passwords equal user names ("demo"): no response pairs them with their key
      for (const n of named) expect(body.includes(`"${n.key}":"${n.value}"`), `${n.key} in ${url}`).to.equal(false);
    }
  });
});
