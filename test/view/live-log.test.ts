// The terminal's live log: lines for the result shapes functions/_shared/run.ts produces — files
// that failed (step, reason), files skipped (reason), a step failed as a whole (error, all its paths).
import { expect } from "chai";
import { describeActivation } from "../../scripts/stack/live-log.ts";

const base = {
  activationId: "a1",
  namespace: "guest",
  name: "facility-dev-ingest",
  start: 1_700_000_000_000,
  end: 1_700_000_000_900,
  duration: 900,
  subject: "guest",
  version: "0.0.1",
  publish: false,
  logs: [],
};
const ann = (kind: string, path: string, causedBy?: string) => [
  { key: "kind", value: kind },
  { key: "path", value: path },
  ...(causedBy ? [{ key: "causedBy", value: causedBy }] : []),
];

describe("live log lines (scripts/stack/live-log.ts)", () => {
  it("a sequence names every failed file with its step and reason, and every skipped file with its reason", () => {
    const line = describeActivation({
      ...base,
      annotations: ann("sequence", "guest/facility-dev-ingest"),
      response: {
        success: true,
        status: "success",
        result: {
          files: [{ path: "/raw/good.nxs" }],
          skipped: [{ path: "/raw/gone.nxs", reason: "not found in storage (deleted after the event?)" }],
          failed: [
            {
              path: "/raw/bad.nxs",
              step: "metadata",
              reason: "/raw/bad.nxs: expected HDF5 (NeXus) but found no known signature",
              permanent: true,
            },
          ],
        },
      },
    } as never)!;
    const lines = line.split("\n");
    expect(lines[0]).to.include("sequence").and.include("facility-dev-ingest").and.include("/raw/good.nxs");
    expect(lines[1]).to.include("failed").and.include("metadata: /raw/bad.nxs: expected HDF5");
    expect(lines[2]).to.include("skipped").and.include("/raw/gone.nxs: not found in storage");
  });

  it("a step that failed as a whole shows its error and all the files it held", () => {
    const paths = Array.from({ length: 12 }, (_, i) => `/raw/f${i}.nxs`);
    const line = describeActivation({
      ...base,
      annotations: ann("nodejs:20", "guest/facility/catalogue", "sequence"),
      response: {
        success: false,
        status: "application error",
        result: { error: "SciCat login as ingestor refused (401)", step: "catalogue", transient: false, paths },
      },
    } as never)!;
    expect(line).to.include("step").and.include("error").and.include("SciCat login as ingestor refused");
    expect(line).to.include("/raw/f0.nxs").and.include("/raw/f9.nxs").and.include("(+2)");
  });

  it("a step shows only the files it failed itself, not those failed before it", () => {
    const line = describeActivation({
      ...base,
      annotations: ann("nodejs:20", "guest/facility/catalogue", "sequence"),
      response: {
        success: true,
        status: "success",
        result: { files: [], failed: [{ path: "/raw/bad.nxs", step: "metadata", reason: "bad", permanent: true }] },
      },
    } as never)!;
    expect(line.split("\n")).to.have.length(1);
  });
});
