// A 1,000-file burst under the page's Live view, in Chromium, against the local stack: when the
// pipeline has settled, the Live view's count of activations equals what the OpenWhisk activations
// API lists for the same time span (all of its pages) — the view dropped none.
import { expect } from "chai";
import { mkdirSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { GUEST_AUTH, type LocalStack } from "../../scripts/stack/stack.ts";
import { startViewServer, type ViewServer } from "../../scripts/view/server.ts";
import { activationsSince, startStack, until } from "../e2e/support.ts";
import { openBrowser, poll, requireChromium, screenshot } from "./browser.ts";

const N = 1000;

describe("the Live view during a 1,000-file burst", function () {
  this.timeout(1_800_000);
  let stack: LocalStack;
  let ow: Awaited<ReturnType<typeof startStack>>["ow"];
  let view: ViewServer;
  let browser: Awaited<ReturnType<typeof openBrowser>>;

  before(async () => {
    requireChromium();
    process.env.SKIP_TYPECHECK = "1";
    ({ stack, ow } = await startStack());
    view = await startViewServer({
      host: "127.0.0.1",
      port: 0,
      openwhisk: { apihost: stack.endpoints.OW_APIHOST, auth: GUEST_AUTH },
      provider: { url: stack.endpoints.PROVIDER_URL, auth: stack.endpoints.PROVIDER_AUTH, ownerKey: GUEST_AUTH },
      since: Date.now(),
    });
    browser = await openBrowser();
  });
  after(async () => {
    await browser?.close();
    await view?.close();
    await stack?.stop();
  });

  it(`shows every activation of ${N} files arriving at once`, async () => {
    const page = browser.page;
    await page.goto(`${view.url}#live`);
    await page.waitForSelector('[data-testid="live-count"]');
    const dir = join(stack.data, "burst");
    mkdirSync(dir, { recursive: true });
    // small files that are no HDF5: checksum passes, metadata fails each one with a reason (fast on 2 cores)
    for (let i = 0; i < N; i++) writeFileSync(join(dir, `f-${String(i).padStart(4, "0")}.nxs`), randomBytes(512));
    const auth = `Basic ${Buffer.from(stack.endpoints.PROVIDER_AUTH).toString("base64")}`;
    await until(
      `${N} files out of flight`,
      async () => {
        let n = 0;
        let after = "";
        for (;;) {
          const r = (await (
            await fetch(
              `${stack.endpoints.PROVIDER_URL}/api/v1/registrations/guest/raw-files/files?prefix=/burst/&limit=1000${after ? `&after=${encodeURIComponent(after)}` : ""}`,
              { headers: { authorization: auth } },
            )
          ).json()) as { files: Array<{ state: string }>; next: string | null };
          n += r.files.filter((f) => ["succeeded", "failed", "skipped"].includes(f.state)).length;
          if (!r.next) break;
          after = r.next;
        }
        return n === N ? true : undefined;
      },
      1_500_000,
      stack,
    );
    // quiet for a moment, then both counts over the view's span
    let api = 0;
    await until(
      "the activation count to stop changing",
      async () => {
        await new Promise((r) => setTimeout(r, 3000));
        const now = (await activationsSince(ow, view.feed.since)).length;
        const stable = now === api;
        api = now;
        return stable ? true : undefined;
      },
      120_000,
      stack,
    );
    expect(api).to.be.above(N / 10);
    // the API's list, once per id (pages shift while records are written), over the view's span
    const apiList = async () => {
      const byId = new Map(
        (await activationsSince(ow, view.feed.since)).filter((a) => a.start >= view.feed.since).map((a) => [a.activationId, a]),
      );
      return [...byId.values()];
    };
    let all = await apiList();
    const extra = () => {
      const listedIds = new Set(all.map((a) => a.activationId));
      return view.feed.records
        .filter((r) => !listedIds.has(r.id))
        .map((r) => `${r.name} ${r.kind} start ${r.start} (since ${view.feed.since})`)
        .slice(0, 10)
        .join("; ");
    };
    const missing = () => {
      const known = new Set(view.feed.records.map((r) => r.id));
      return all
        .filter((a) => !known.has(a.activationId))
        .map((a) => `${a.name} start ${a.start} duration ${a.duration}`)
        .slice(0, 10)
        .join("; ");
    };
    // a record written late (a sequence ends after its steps) may still arrive: the two counts must meet
    let shown = -1;
    await poll(
      `the Live view's count to equal the API's (view server has ${view.feed.total}; lacking e.g. ${missing()})`,
      async () => {
        shown = Number(await page.locator('[data-testid="live-count"]').textContent());
        all = await apiList();
        return shown === all.length;
      },
      60_000,
    ).catch(() => undefined);
    const listed = all.length;
    expect(shown, `lacking ${missing()}; extra ${extra()}`).to.equal(listed);
    // the list itself holds a row for each (rendered virtually: only those in view are in the DOM)
    expect(Number(await page.locator('[data-testid="live-list"]').getAttribute("data-rows"))).to.equal(listed);
    await screenshot(page, "live-burst");
  });
});
