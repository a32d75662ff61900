// NeXus metadata from an open HDF5 file: every NXentry (entry names differ between facilities,
// and a file may hold several), with the fields SciCat's NeXus mapping uses.
import type { H5File } from "./hdf5-open.ts";
import { attrText, child, describeDataset, fieldText, fieldValue, isDataset, isGroup, nxClass, type Group, type Scalar } from "./hdf5-values.ts";

export interface NexusUser {
  name?: string;
  email?: string;
  affiliation?: string;
  role?: string;
  orcid?: string;
}

export interface NexusData {
  /** Absolute path of the NXdata signal dataset. */
  path: string;
  shape: number[];
  dtype: string;
}

export interface NexusEntry {
  name: string;
  title?: string;
  experiment_identifier?: string;
  experiment_description?: string;
  entry_identifier?: string;
  definition?: string;
  start_time?: string;
  end_time?: string;
  duration?: Scalar | Scalar[];
  program_name?: string;
  instrument?: { name?: string; detectors?: string[] };
  sample?: { name?: string; chemical_formula?: string; temperature?: Scalar | Scalar[] };
  users: NexusUser[];
  data: NexusData[];
}

const ENTRY_FIELDS = ["title", "experiment_identifier", "experiment_description", "entry_identifier", "definition", "start_time", "end_time", "program_name"] as const;

function groupsOfClass(group: Group, cls: string): Array<[string, Group]> {
  const out: Array<[string, Group]> = [];
  for (const name of group.keys()) {
    const e = child(group, name);
    if (isGroup(e) && nxClass(e) === cls) out.push([name, e]);
  }
  return out;
}

/** The signal dataset of an NXdata group: its `signal` attribute, the old `signal=1` field attribute, or `data`. */
function signalOf(path: string, group: Group): NexusData | undefined {
  const names = group.keys();
  const byAttr = attrText(group, "signal");
  const candidates = [byAttr, ...names.filter((n) => {
    const e = child(group, n);
    return isDataset(e) && attrText(e, "signal") === "1";
  }), "data"].filter((n): n is string => !!n && names.includes(n));
  for (const n of candidates) {
    const e = child(group, n);
    if (isDataset(e)) return { path: `${path}/${n}`, ...describeDataset(e) };
  }
  return undefined;
}

function entryOf(name: string, g: Group): NexusEntry {
  const entry: NexusEntry = { name, users: [], data: [] };
  for (const f of ENTRY_FIELDS) {
    const v = fieldText(g, f);
    if (v !== undefined) entry[f] = v;
  }
  // Older files (NeXus 1.x, IPNS) carry the run as run_number.
  entry.entry_identifier ??= fieldText(g, "run_number");
  const duration = fieldValue(g, "duration");
  if (duration !== undefined) entry.duration = duration;
  const [inst] = groupsOfClass(g, "NXinstrument");
  if (inst) {
    entry.instrument = {};
    const iname = fieldText(inst[1], "name");
    if (iname) entry.instrument.name = iname;
    const dets = groupsOfClass(inst[1], "NXdetector").map(([n]) => n);
    if (dets.length) entry.instrument.detectors = dets;
  }
  const [sample] = groupsOfClass(g, "NXsample");
  if (sample) {
    entry.sample = {};
    const sname = fieldText(sample[1], "name");
    if (sname) entry.sample.name = sname;
    const formula = fieldText(sample[1], "chemical_formula");
    if (formula) entry.sample.chemical_formula = formula;
    const t = fieldValue(sample[1], "temperature");
    if (t !== undefined) entry.sample.temperature = t;
  }
  for (const [, u] of groupsOfClass(g, "NXuser")) {
    const user: NexusUser = {};
    for (const k of ["name", "email", "affiliation", "role"] as const) {
      const v = fieldText(u, k);
      if (v) user[k] = v;
    }
    const orcid = fieldText(u, "ORCID") ?? fieldText(u, "orcid");
    if (orcid) user.orcid = orcid;
    if (Object.keys(user).length) entry.users.push(user);
  }
  for (const [dname, d] of groupsOfClass(g, "NXdata")) {
    const s = signalOf(`/${name}/${dname}`, d);
    if (s) entry.data.push(s);
  }
  return entry;
}

/** All NXentry groups at the file's root, in file order; empty when the file is not NeXus. */
export function nexusEntries(file: H5File): NexusEntry[] {
  return groupsOfClass(file as unknown as Group, "NXentry").map(([n, g]) => entryOf(n, g));
}
