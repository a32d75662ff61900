// NeXus metadata from an open HDF5 file: every NXentry (entry names differ between facilities,
// and a file may hold several), with what each says about itself, as the file says it. Choosing
// which of these values describe the dataset is nexus-facts.ts's job, not this module's.
import type { H5File } from "./hdf5-open.ts";
import {
  attrText,
  child,
  describeDataset,
  entityAt,
  externalLinkOf,
  fieldAttrText,
  fieldText,
  fieldValue,
  isDataset,
  isGroup,
  keysOf,
  nxClass,
  virtualSources,
  type Group,
  type Scalar,
} from "./hdf5-values.ts";

export interface NexusUser {
  name?: string;
  email?: string;
  affiliation?: string;
  role?: string;
  orcid?: string;
  /** Facility account (NXuser facility_user_id, or GDA's `username`): an account, not a person's name. */
  facility_user_id?: string;
}

export interface NexusData {
  /** Absolute path of the NXdata signal dataset. */
  path: string;
  shape: number[];
  dtype: string;
  /**
   * Set when the values are not in this file: the signal is an external link, or a virtual dataset
   * (`virtual`) whose source is in another file or is an external link (`via` names that source).
   * Readers of this file alone cannot read them.
   */
  external?: { file: string; path: string; virtual?: true; via?: string };
}

export interface NexusSource {
  name?: string;
  /** The `short_name` attribute of `name` (NXmx: "DLS" for "Diamond Light Source"). */
  short_name?: string;
  type?: string;
  probe?: string;
  /** Not in the NeXus standard, but written by APS's areaDetector (`facility_name`). */
  facility_name?: string;
}

export interface NexusInstrument {
  name?: string;
  /** The group's name, kept when there is no `name` field: then it is the only name the file gives. */
  group?: string;
  source?: NexusSource;
  detectors?: string[];
}

export interface NexusSample {
  name?: string;
  chemical_formula?: string;
  temperature?: Scalar | Scalar[];
  /** Where the NXsample group is, when not directly in the entry (APS NXsas: under the instrument). */
  path?: string;
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
  instrument?: NexusInstrument;
  sample?: NexusSample;
  users: NexusUser[];
  data: NexusData[];
  /** NXsubentry groups (application definitions such as NXmx), read like entries. */
  subentries?: NexusEntry[];
}

const ENTRY_FIELDS = [
  "title",
  "experiment_identifier",
  "experiment_description",
  "entry_identifier",
  "definition",
  "start_time",
  "end_time",
  "program_name",
] as const;

/**
 * Classes not searched for a nested NXsample: they never hold one, and skipping them keeps big
 * detector/log trees unread. NXsubentry is read as an entry of its own.
 */
const NO_SAMPLE_INSIDE = new Set([
  "NXdata",
  "NXdetector",
  "NXcollection",
  "NXlog",
  "NXtransformations",
  "NXpositioner",
  "NXmonitor",
  "NXdetector_module",
  "NXsample",
  "NXsubentry",
]);
const SAMPLE_SEARCH_DEPTH = 3;

const subgroups = new WeakMap<Group, Array<{ name: string; group: Group; cls: string | undefined }>>();

/** The groups in a group with their NX_class, looked up once per group (an entry is searched for five classes). */
function childGroups(group: Group): Array<{ name: string; group: Group; cls: string | undefined }> {
  let found = subgroups.get(group);
  if (!found) {
    found = [];
    for (const name of keysOf(group)) {
      const e = child(group, name);
      if (isGroup(e)) found.push({ name, group: e, cls: nxClass(e) });
    }
    subgroups.set(group, found);
  }
  return found;
}

function groupsOfClass(group: Group, cls: string): Array<[string, Group]> {
  return childGroups(group)
    .filter((c) => c.cls === cls)
    .map((c) => [c.name, c.group]);
}

/** The NXdata signal: its `signal` attribute, the old `signal=1` field attribute, or `data`. */
function signalOf(path: string, group: Group): NexusData | undefined {
  const names = keysOf(group);
  const byAttr = attrText(group, "signal");
  const candidates = [
    byAttr,
    ...names.filter((n) => {
      const e = child(group, n);
      return isDataset(e) && attrText(e, "signal") === "1";
    }),
    "data",
  ].filter((n): n is string => !!n && names.includes(n));
  for (const n of candidates) {
    const e = child(group, n);
    const link = externalLinkOf(e);
    if (link) return { path: `${path}/${n}`, shape: [], dtype: "external link", external: link };
    if (!isDataset(e)) continue;
    const signal: NexusData = { path: `${path}/${n}`, ...describeDataset(e) };
    // A virtual dataset reads as fill values (zeros) when its sources are missing, so say where they are.
    for (const src of virtualSources(e) ?? []) {
      const link = src.file === "." ? externalLinkOf(entityAt(group, src.dataset)) : undefined;
      if (link) signal.external = { ...link, virtual: true, via: src.dataset };
      else if (src.file !== ".") signal.external = { file: src.file, path: src.dataset, virtual: true };
      if (signal.external) break;
    }
    return signal;
  }
  return undefined;
}

function sourceOf(g: Group): NexusSource | undefined {
  const source: NexusSource = {};
  for (const k of ["name", "type", "probe", "facility_name"] as const) {
    const v = fieldText(g, k);
    if (v) source[k] = v;
  }
  const short = fieldAttrText(g, "name", "short_name");
  if (short) source.short_name = short;
  return Object.keys(source).length ? source : undefined;
}

function instrumentOf(groupName: string, g: Group): NexusInstrument {
  const inst: NexusInstrument = {};
  const name = fieldText(g, "name");
  if (name) inst.name = name;
  else inst.group = groupName;
  const [src] = groupsOfClass(g, "NXsource");
  const source = src && sourceOf(src[1]);
  if (source) inst.source = source;
  const dets = groupsOfClass(g, "NXdetector").map(([n]) => n);
  if (dets.length) inst.detectors = dets;
  return inst;
}

function sampleOf(g: Group, path: string | undefined): NexusSample {
  const sample: NexusSample = {};
  const name = fieldText(g, "name");
  if (name) sample.name = name;
  const formula = fieldText(g, "chemical_formula");
  if (formula) sample.chemical_formula = formula;
  const t = fieldValue(g, "temperature");
  if (t !== undefined) sample.temperature = t;
  if (path) sample.path = path;
  return sample;
}

/** The first NXsample below `g` (breadth first, a few levels deep): some files nest it, e.g. under NXinstrument. */
function nestedSample(g: Group, path: string): [string, Group] | undefined {
  let level: Array<[string, Group]> = [[path, g]];
  for (let depth = 0; depth < SAMPLE_SEARCH_DEPTH && level.length; depth++) {
    const next: Array<[string, Group]> = [];
    for (const [p, group] of level) {
      for (const { name, group: e, cls } of childGroups(group)) {
        if (cls === "NXsample") return [`${p}/${name}`, e];
        if (!cls || !NO_SAMPLE_INSIDE.has(cls)) next.push([`${p}/${name}`, e]);
      }
    }
    level = next;
  }
  return undefined;
}

function userOf(g: Group): NexusUser | undefined {
  const user: NexusUser = {};
  for (const k of ["name", "email", "affiliation", "role"] as const) {
    const v = fieldText(g, k);
    if (v) user[k] = v;
  }
  const orcid = fieldText(g, "ORCID") ?? fieldText(g, "orcid");
  if (orcid) user.orcid = orcid;
  const account = fieldText(g, "facility_user_id") ?? fieldText(g, "username");
  if (account) user.facility_user_id = account;
  return Object.keys(user).length ? user : undefined;
}

function entryOf(name: string, g: Group, path: string, subentries: boolean, walk: NexusWalk): NexusEntry {
  const entry: NexusEntry = { name, users: [], data: [] };
  if (walk === "all") describeEntry(entry, g, path);
  for (const [dname, d] of groupsOfClass(g, "NXdata")) {
    const s = signalOf(`${path}/${dname}`, d);
    if (s) entry.data.push(s);
  }
  if (subentries) {
    const subs = groupsOfClass(g, "NXsubentry").map(([n, s]) => entryOf(n, s, `${path}/${n}`, false, walk));
    if (subs.length) entry.subentries = subs;
  }
  return entry;
}

/** What an entry says about itself: its fields, instrument, sample and users. */
function describeEntry(entry: NexusEntry, g: Group, path: string): void {
  for (const f of ENTRY_FIELDS) {
    const v = fieldText(g, f);
    if (v !== undefined) entry[f] = v;
  }
  // Older files (NeXus 1.x, IPNS) carry the run as run_number.
  entry.entry_identifier ??= fieldText(g, "run_number");
  const duration = fieldValue(g, "duration");
  if (duration !== undefined) entry.duration = duration;
  const [inst] = groupsOfClass(g, "NXinstrument");
  if (inst) entry.instrument = instrumentOf(inst[0], inst[1]);
  const [sample] = groupsOfClass(g, "NXsample");
  const nested = sample ? undefined : nestedSample(g, path);
  if (sample) entry.sample = sampleOf(sample[1], undefined);
  else if (nested) entry.sample = sampleOf(nested[1], nested[0]);
  for (const [, u] of groupsOfClass(g, "NXuser")) {
    const user = userOf(u);
    if (user) entry.users.push(user);
  }
}

/**
 * How much of each entry a walk reads: "all" of what it says about itself, or only its NXdata
 * "signals", for a reader that wants the detector frames and not the description.
 */
export type NexusWalk = "all" | "signals";

/** All NXentry groups at the file's root, in file order; empty when the file is not NeXus. */
export function nexusEntries(file: H5File, walk: NexusWalk = "all"): NexusEntry[] {
  return groupsOfClass(file as unknown as Group, "NXentry").map(([n, g]) => entryOf(n, g, `/${n}`, true, walk));
}
