// What the NeXus reader and the catalogue mapping make of real facility files and of generated edge
// cases. Expected values of the real files were read with h5dump (hdf5-tools), never from our output:
// the h5dump path each comes from is named beside it.
import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileByteSource } from "../../lib/formats/byte-source.ts";
import { loadH5wasm } from "../../lib/formats/hdf5-open.ts";
import { describe as describeFile, describeOpen, type FileDescription } from "../../lib/formats/describe.ts";
import { nexusFrameSignal } from "../../lib/formats/frame.ts";
import { nexusFacts } from "../../lib/formats/nexus-facts.ts";
import { datasetFor } from "../../functions/catalogue/mapping.ts";
import { lib as loadWriter, writeNexusTree, type NxGroup } from "./support/nexus-tree.ts";

const NEXUS = join(import.meta.dirname, "../data/nexus");

async function describePath(path: string): Promise<FileDescription> {
  const src = new FileByteSource(path);
  try {
    return await describeFile(src, path);
  } finally {
    src.close();
  }
}

const DEFAULTS = {
  owner: "ingestor",
  ownerGroup: "g",
  contactEmail: "beamline@localhost",
  principalInvestigator: "beamline scientist",
  creationLocation: "local/beamline",
};

interface Truth {
  title?: string;
  startTime?: string;
  endTime?: string;
  instrument?: string;
  creationLocation?: string;
  sample?: string;
  pi?: string;
  contactEmail?: string;
  definitions: string[];
}

// h5dump -d <path> on each file; "absent" means h5dump found no such dataset (or an empty string).
const TRUTH: Record<string, Truth> = {
  "APS_EPICSareaDetector_hdf5_AgBehenate_228.hdf5": {
    title: "Glassy carbon C6 fixed", // /entry/title
    // /entry/start_time and /entry/end_time are "" in the file
    instrument: "USAXS", // /entry/instrument/name
    creationLocation: "APS:USAXS", // /entry/instrument/source/facility_name "APS"
    sample: "Glassy carbon C6 fixed", // /entry/sample/name
    pi: "Dale Schaefer", // /entry/user1/name (no role, no email)
    definitions: ["NXsas"], // /entry/definition
  },
  "DLS_i03_i04_NXmx_hdf5_Therm_6_2.nxs": {
    // no /entry/title, no /entry/instrument/name, no /entry/sample/name, no NXuser
    startTime: "2019-02-14T14:25:57", // /entry/start_time
    endTime: "2019-02-14T14:26:24", // /entry/end_time
    creationLocation: "DLS", // /entry/instrument/source/name "Diamond Light Source", @short_name "DLS"
    definitions: ["NXmx"],
  },
  "DLS_i16_hdf5_538039.nxs": {
    title: "Scan of sample with GDA", // /entry1/title
    // no start_time/end_time; /entry1/user01 has only username "i16user", an account, not a name
    instrument: "i16", // /entry1/instrument/name
    creationLocation: "DLS:i16", // /entry1/instrument/source/name "DLS"
    sample: "Default Sample", // /entry1/sample/name
    definitions: ["NXmx"], // /entry1/definition
  },
  "IPNS_LRMECS_hdf5_lrcs3701.nx5": {
    title: "MgB2 PDOS 43.37g 8K 120meV E0@240Hz T0@120Hz", // /Histogram1/title
    startTime: "2001-02-07T08:54:21-0600", // /Histogram1/start_time
    endTime: "2001-02-09T14:12:53-0600", // /Histogram1/end_time
    instrument: "LRMECS", // /Histogram1/instrument/name
    creationLocation: "IPNS:LRMECS", // /Histogram1/instrument/source/name "IPNS"
    // /Histogram1/sample holds only "distance"; no NXuser
    definitions: [],
  },
  "SLS_Focus_2021-03-16_051.hdf5": {
    title: "Focus", // /entry1/title
    startTime: "2021-03-16T12:42:07+01:00", // /entry1/start_time
    endTime: "2021-03-16T12:42:22+01:00", // /entry1/end_time
    // no /entry1/instrument/name (group named "instrument"); /entry1/sample has no name; no NXuser
    creationLocation: "Swiss Light Source", // /entry1/instrument/source/name
    definitions: ["NXstxm"], // /entry1/definition
  },
};

describe("NeXus metadata of the real facility files (values read with h5dump)", () => {
  for (const [name, truth] of Object.entries(TRUTH)) {
    it(`${name}: title, times, instrument, location, sample, PI`, async () => {
      const d = await describePath(join(NEXUS, name));
      const f = nexusFacts(d.nexus!.entries[0]!);
      expect({
        title: f.title,
        startTime: f.startTime,
        endTime: f.endTime,
        instrument: f.instrument,
        creationLocation: f.creationLocation,
        sample: f.sample?.name,
        pi: f.pi?.name,
        contactEmail: f.contactEmail,
        definitions: f.definitions,
      }).to.deep.equal({
        contactEmail: undefined,
        pi: undefined,
        sample: undefined,
        title: undefined,
        startTime: undefined,
        endTime: undefined,
        instrument: undefined,
        ...truth,
      });
    });
  }

  it("catalogued: the file's values win, the parameters fill only what the file leaves out", async () => {
    const aps = await describePath(join(NEXUS, "APS_EPICSareaDetector_hdf5_AgBehenate_228.hdf5"));
    const ds = datasetFor({ path: "/raw/aps.hdf5", size: 1, metadata: aps }, "p/1", DEFAULTS);
    expect(ds).to.include({
      datasetName: "Glassy carbon C6 fixed",
      principalInvestigator: "Dale Schaefer",
      creationLocation: "APS:USAXS",
      contactEmail: "beamline@localhost",
    });
    expect(ds.scientificMetadata).to.include({ sampleName: "Glassy carbon C6 fixed", instrumentName: "USAXS" });
    expect(ds.keywords).to.include("NXsas");

    const sls = await describePath(join(NEXUS, "SLS_Focus_2021-03-16_051.hdf5"));
    const s = datasetFor({ path: "/raw/sls.hdf5", size: 1, metadata: sls }, "p/2", DEFAULTS);
    expect(s).to.include({
      datasetName: "Focus",
      creationLocation: "Swiss Light Source",
      principalInvestigator: "beamline scientist",
      contactEmail: "beamline@localhost",
      startTime: "2021-03-16T11:42:07.000Z",
      endTime: "2021-03-16T11:42:22.000Z",
    });

    const ipns = await describePath(join(NEXUS, "IPNS_LRMECS_hdf5_lrcs3701.nx5"));
    const i = datasetFor({ path: "/raw/lrcs3701.nx5", size: 1, metadata: ipns }, "p/3", DEFAULTS);
    expect(i).to.include({
      runNumber: "3701",
      creationLocation: "IPNS:LRMECS",
      startTime: "2001-02-07T14:54:21.000Z",
      endTime: "2001-02-09T20:12:53.000Z",
    });

    const nxmx = await describePath(join(NEXUS, "DLS_i03_i04_NXmx_hdf5_Therm_6_2.nxs"));
    expect(datasetFor({ path: "/raw/Therm_6_2.nxs", size: 1, metadata: nxmx }, "p/4", DEFAULTS)).to.include({
      datasetName: "Therm_6_2.nxs",
      creationLocation: "DLS",
    });
  });

  // the detector frame derive reads, or why there is none, as h5dump shows each file
  const FRAMES: Array<[string, string | RegExp | { path: string }]> = [
    [
      // h5dump -n: "ext link /entry1/pil100k/data -> 538039-pilatus100k-files/538039.hdf /entry/instrument/detector/data"
      "DLS_i16_hdf5_538039.nxs",
      "signal /entry1/pil100k/data is an external link to missing file 538039-pilatus100k-files/538039.hdf (object /entry/instrument/detector/data); derive reads only the event's own file",
    ],
    [
      // h5dump -p: /entry/data/data is VIRTUAL with SOURCE FILE "." DATASET "/entry/data/data_000001",
      // and "ext link /entry/data/data_000001 -> Therm_6_2_000001.h5 /data"
      "DLS_i03_i04_NXmx_hdf5_Therm_6_2.nxs",
      /^signal \/entry\/data\/data is a virtual dataset whose source \/entry\/data\/data_000001 is an external link to missing file Therm_6_2_000001\.h5 \(object \/data\)/,
    ],
    // h5dump -A -g /entry/data: its dataset "data" (H5T_STD_I32LE, ( 195, 487 )) has the attribute signal="1"
    ["APS_EPICSareaDetector_hdf5_AgBehenate_228.hdf5", { path: "/entry/data/data" }],
  ];

  it("signals stored elsewhere are named, with the missing file, as the reason there is no preview", async () => {
    for (const [name, frame] of FRAMES) {
      const signal = nexusFrameSignal((await describePath(join(NEXUS, name))).nexus!.entries);
      if (frame instanceof RegExp) expect(signal, name).to.match(frame);
      else expect(signal, name).to.deep.equal(frame);
    }
  });

  it("derive's walk (signals only) finds the same frames and reads nothing else of the entries", async () => {
    for (const [name, frame] of FRAMES) {
      const src = new FileByteSource(join(NEXUS, name));
      const { description, hdf5 } = await describeOpen(src, name, { walk: "signals" });
      hdf5?.close();
      src.close();
      expect(description.format, name).to.equal("nexus");
      const signal = nexusFrameSignal(description.nexus!.entries);
      if (frame instanceof RegExp) expect(signal, name).to.match(frame);
      else expect(signal, name).to.deep.equal(frame);
      for (const e of description.nexus!.entries.flatMap((x) => [x, ...(x.subentries ?? [])])) {
        expect(Object.keys(e).sort(), name).to.deep.equal(["data", "name", "users", ...(e.subentries ? ["subentries"] : [])].sort());
        expect(e.users, name).to.deep.equal([]);
      }
    }
  });
});

describe("NeXus metadata of generated edge cases", () => {
  let dir: string;
  before(async function () {
    this.timeout(120_000);
    dir = mkdtempSync(join(tmpdir(), "nexus-cases-"));
    await Promise.all([loadWriter(), loadH5wasm()]);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function written(name: string, root: Record<string, NxGroup>): Promise<FileDescription> {
    const p = join(dir, name);
    await writeNexusTree(p, root);
    return describePath(p);
  }

  it("NXsubentry (DIALS NXmx): title, definition, instrument and sample come from it", async () => {
    const d = await written("dials.nxs", {
      entry: {
        nx: "NXentry",
        fields: { start_time: "2026-03-01T09:00:00Z" },
        groups: {
          mx: {
            nx: "NXsubentry",
            fields: { title: "Thaumatin, sweep 1", definition: "NXmx" },
            groups: {
              instrument: {
                nx: "NXinstrument",
                fields: { name: "I04" },
                groups: { source: { nx: "NXsource", fields: { name: "Diamond Light Source" } } },
              },
              sample: { nx: "NXsample", fields: { name: "thaumatin" } },
            },
          },
        },
      },
    });
    const f = nexusFacts(d.nexus!.entries[0]!);
    expect(f).to.include({
      title: "Thaumatin, sweep 1",
      instrument: "I04",
      creationLocation: "Diamond Light Source:I04",
      startTime: "2026-03-01T09:00:00Z",
    });
    expect(f.definitions).to.deep.equal(["NXmx"]);
    expect(f.sample?.name).to.equal("thaumatin");
    const ds = datasetFor({ path: "/raw/dials.nxs", size: 1, metadata: d }, "p/5", DEFAULTS);
    expect(ds).to.include({ datasetName: "Thaumatin, sweep 1", creationLocation: "Diamond Light Source:I04" });
    expect(ds.keywords).to.deep.equal(["nexus", "NXmx"]);
  });

  it("the entry's own values win over its subentry's", async () => {
    const d = await written("both.nxs", {
      entry: {
        nx: "NXentry",
        fields: { title: "entry title" },
        groups: { sub: { nx: "NXsubentry", fields: { title: "subentry title", definition: "NXmx" } } },
      },
    });
    expect(nexusFacts(d.nexus!.entries[0]!).title).to.equal("entry title");
  });

  it("NXsample nested under NXinstrument (APS NXsas)", async () => {
    const d = await written("nxsas.h5", {
      entry: {
        nx: "NXentry",
        fields: { title: "AgBehenate", definition: "NXsas" },
        groups: {
          instrument: {
            nx: "NXinstrument",
            fields: { name: "USAXS" },
            groups: { detector: { nx: "NXdetector" }, sample: { nx: "NXsample", fields: { name: "silver behenate" } } },
          },
        },
      },
    });
    const e = d.nexus!.entries[0]!;
    expect(e.sample).to.deep.equal({ name: "silver behenate", path: "/entry/instrument/sample" });
    expect(datasetFor({ path: "/raw/nxsas.h5", size: 1, metadata: d }, "p/6", DEFAULTS).scientificMetadata).to.include({
      sampleName: "silver behenate",
    });
  });

  it("NXinstrument without name: its group name (Soleil DIFFABS) and the NXsource name", async () => {
    const d = await written("diffabs.nxs", {
      entry: {
        nx: "NXentry",
        fields: { title: "scan 12" },
        groups: { DIFFABS: { nx: "NXinstrument", groups: { source: { nx: "NXsource", fields: { name: "SOLEIL" } } } } },
      },
    });
    const f = nexusFacts(d.nexus!.entries[0]!);
    expect(f).to.include({ instrument: "DIFFABS", source: "SOLEIL", creationLocation: "SOLEIL:DIFFABS" });
    expect(datasetFor({ path: "/raw/diffabs.nxs", size: 1, metadata: d }, "p/7", DEFAULTS).creationLocation).to.equal("SOLEIL:DIFFABS");
  });

  it("users: the one whose role says PI is the principal investigator and the contact, not the first", async () => {
    const user = (name: string, role: string | undefined, email?: string): NxGroup => ({
      nx: "NXuser",
      fields: { name, ...(role ? { role } : {}), ...(email ? { email } : {}) },
    });
    for (const role of ["principal_investigator", "PI", "Principal Investigator"]) {
      const d = await written(`roles-${role.replace(/\W/g, "")}.nxs`, {
        entry: {
          nx: "NXentry",
          groups: {
            user_1: user("Ann Local", "local_contact", "ann@facility.eu"),
            user_2: user("Pat Proposer", role, "pat@uni.example"),
            user_3: user("Sam Student", "user"),
          },
        },
      });
      const ds = datasetFor({ path: "/raw/r.nxs", size: 1, metadata: d }, "p/8", DEFAULTS);
      expect(ds, role).to.include({ principalInvestigator: "Pat Proposer", contactEmail: "pat@uni.example" });
      expect((ds.scientificMetadata as { acquisitionTeamMembers: string[] }).acquisitionTeamMembers).to.deep.equal([
        "Ann Local",
        "Pat Proposer",
        "Sam Student",
      ]);
    }
    const noRoles = await written("noroles.nxs", {
      entry: {
        nx: "NXentry",
        groups: { user_1: user("Ann Local", undefined), user_2: user("Pat Proposer", undefined, "pat@uni.example") },
      },
    });
    // no role: the first user is the PI; the contact is the first email any user gives
    expect(datasetFor({ path: "/raw/r.nxs", size: 1, metadata: noRoles }, "p/9", DEFAULTS)).to.include({
      principalInvestigator: "Ann Local",
      contactEmail: "pat@uni.example",
    });
  });

  it("a file that says nothing: every field from the parameters", async () => {
    const d = await written("bare.nxs", { entry: { nx: "NXentry", groups: { instrument: { nx: "NXinstrument" } } } });
    expect(datasetFor({ path: "/raw/bare.nxs", size: 1, metadata: d }, "p/10", DEFAULTS)).to.include({
      datasetName: "bare.nxs",
      principalInvestigator: "beamline scientist",
      contactEmail: "beamline@localhost",
      creationLocation: "local/beamline",
    });
  });

  it("a signal that is an external link to a missing file: the reason names the link and the file", async () => {
    const d = await written("linked.nxs", {
      entry: {
        nx: "NXentry",
        groups: { data: { nx: "NXdata", attrs: { signal: "data" }, external: { data: { file: "foo.h5", path: "/entry/data/data" } } } },
      },
    });
    expect(d.nexus!.entries[0]!.data).to.deep.equal([
      { path: "/entry/data/data", shape: [], dtype: "external link", external: { file: "foo.h5", path: "/entry/data/data" } },
    ]);
    expect(nexusFrameSignal(d.nexus!.entries)).to.match(/^signal \/entry\/data\/data is an external link to missing file foo\.h5 /);
  });
});

describe("catalogue mapping: derived datasets", () => {
  it("dataFormat is the media type of the preview and of the summary", () => {
    const png = datasetFor(
      { path: "/raw/derived/run.nxs.preview.png", size: 10, metadata: { format: "unknown", contentType: "image/png", size: 10 } },
      "p/d1",
      DEFAULTS,
      "p/raw",
    );
    const json = datasetFor({ path: "/raw/derived/run.nxs.summary.json", size: 10 }, "p/d2", DEFAULTS, "p/raw");
    expect(png).to.include({ type: "derived", dataFormat: "image/png" });
    expect(json).to.include({ type: "derived", dataFormat: "application/json" });
  });
});
