// The view's activation feed against the local OpenWhisk platform (a real process): an activation
// recorded long after it started — later than the feed's overlap reaches back — is still found (the
// API's count since the start says one is missing; a sweep fetches it), and the feed's count equals
// the activations API's count. Pages of the API are followed (more than 200 activations).
import { expect } from "chai";
import { ActivationFeed, listSince } from "../../scripts/view/activations.ts";
import { eventually, startPlatform, type Platform } from "../openwhisk/support.ts";

describe("activation feed (scripts/view/activations.ts)", function () {
  this.timeout(120_000);
  let p: Platform;
  before(async () => {
    p = await startPlatform();
    await p.ow.actions.create({
      name: "slow",
      action: "function main(){ return new Promise((r) => setTimeout(() => r({ path: '/slow.nxs' }), 4000)); }",
    });
    await p.ow.actions.create({ name: "fast", action: "function main(a){ return { files: [{ path: a.path }] }; }" });
  });
  after(() => p?.stop());

  it("finds an activation recorded after its start had left the overlap window, and misses none of 250 more", async () => {
    const since = Date.now() - 1000;
    // overlap 300 ms: the slow activation (4 s) is recorded long after the window passed its start
    const feed = new ActivationFeed(p.ow, since, 300);
    const slow = p.ow.actions.invoke({ name: "slow", blocking: true, result: true });
    await new Promise((r) => setTimeout(r, 300));
    for (let round = 0; round < 10; round++) {
      await Promise.all(
        Array.from({ length: 25 }, (_, i) => p.ow.actions.invoke({ name: "fast", params: { path: `/f-${round}-${i}.nxs` } })),
      );
      await feed.poll();
    }
    await slow;
    const listed = await eventually(
      async () => {
        const all = await listSince(p.ow, since);
        return all.length >= 251 ? all : undefined;
      },
      "251 activations listed",
      30_000,
    );
    await feed.poll();
    expect(feed.total).to.equal(listed.length);
    expect(new Set(feed.records.map((r) => r.id))).to.deep.equal(new Set(listed.map((a) => a.activationId)));
    expect(feed.sweeps, "a sweep found the late one").to.be.at.least(1);
    const late = feed.records.find((r) => r.name.endsWith("/slow"))!;
    expect(late.files.map((f) => f.path)).to.deep.equal(["/slow.nxs"]);
  });
});
