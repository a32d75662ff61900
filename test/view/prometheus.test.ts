// The Health view reads the provider's /metrics: Prometheus text as the provider's own registry
// renders it (labels with escapes, histograms) parses into the samples it holds.
import { expect } from "chai";
import { ProviderMetrics } from "../../feeds/provider/metrics.ts";
import { parsePrometheus } from "../../scripts/view/provider.ts";

describe("parsing the provider's /metrics (scripts/view/provider.ts)", () => {
  it("reads counters with labels (escaped quotes and newlines), gauges and histogram series", () => {
    const m = new ProviderMetrics();
    m.fired.inc({ trigger: "/guest/raw-files" }, 42);
    m.filesFailed.inc({ trigger: "/guest/raw-files", step: 'meta"data\nx', permanent: "true" }, 2);
    m.gauge("feed_outbox_depth", "Events waiting", () => [[{ trigger: "/guest/raw-files" }, 7]]);
    m.fireSeconds.observe(0.003);
    const s = parsePrometheus(m.registry.render());
    expect(s.find((x) => x.name === "feed_events_fired_total")).to.deep.equal({
      name: "feed_events_fired_total",
      labels: { trigger: "/guest/raw-files" },
      value: 42,
    });
    expect(s.find((x) => x.name === "feed_files_failed_total")!.labels.step).to.equal('meta"data\nx');
    expect(s.find((x) => x.name === "feed_outbox_depth")!.value).to.equal(7);
    expect(s.find((x) => x.name === "feed_fire_duration_seconds_count")!.value).to.equal(1);
    expect(s.find((x) => x.name === "feed_fire_duration_seconds_bucket" && x.labels.le === "0.005")!.value).to.equal(1);
  });
});
