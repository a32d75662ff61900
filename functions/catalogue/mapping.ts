// Maps a file record (with the metadata step's output) to a SciCat dataset. What the file says
// wins; the action's parameters fill only what it leaves out. The field-by-field table, and the
// SciCat ingestor conventions it follows, are in README.md beside this file.
import { contentTypeFor } from "../../lib/formats/detect.ts";
import type { NexusEntry } from "../../lib/formats/nexus.ts";
import { nexusFacts, type NexusFacts } from "../../lib/formats/nexus-facts.ts";
import { baseName, dirName, type FileRecord, type StepRecord } from "../_shared/files.ts";
import { functionVersion } from "../../lib/provenance.ts";

export interface DatasetDefaults {
  owner?: string;
  ownerGroup?: string;
  accessGroups?: string[];
  contactEmail?: string;
  principalInvestigator?: string;
  creationLocation?: string;
  instrumentId?: string;
  license?: string;
  keywords?: string[];
}

/** NeXus times come as "2001-02-07T08:54:21-0600" or without zone; SciCat wants ISO 8601. */
export function isoTime(t: string | undefined): string | undefined {
  if (!t) return undefined;
  const fixed = t
    .trim()
    .replace(/([+-]\d{2})(\d{2})$/, "$1:$2")
    .replace(" ", "T");
  const ms = Date.parse(fixed);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/** The entry the mapping uses: the one named "entry" if present, else the first. */
export function mainEntry(file: FileRecord): NexusEntry | undefined {
  const entries = file.metadata?.nexus?.entries ?? [];
  return entries.find((e) => e.name === "entry") ?? entries[0];
}

const FORMAT_NAMES: Record<string, string> = { nexus: "NeXus", exdf: "EXDF", hdf5: "HDF5", cbf: "miniCBF", edf: "EDF", unknown: "unknown" };

/** The source file a derived file was made from, by derive's naming: <dir>/derived/<name>.preview.png → <dir>/<name>. */
export function derivedSource(path: string, derivedDir = "derived"): string | undefined {
  const m = new RegExp(`^(.*)/${derivedDir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/(.+)\\.(preview\\.png|summary\\.json)$`).exec(path);
  return m ? `${m[1]}/${m[2]}` : undefined;
}

/**
 * Which code made this dataset, in W3C PROV terms: the function versions (action, bundle SHA-256,
 * activation) of every step that handled the file, this one included; the file they used; and,
 * for derived data, the dataset it was derived from.
 */
export function provenanceOf(file: FileRecord, steps: StepRecord[], derivedFrom?: string): Record<string, unknown> {
  const own = functionVersion();
  const activities = [
    ...steps.map((s) => ({
      function: s.function,
      action: s.action,
      bundleSha256: s.bundleSha256,
      activationId: s.activationId,
      startedAt: s.startedAt,
    })),
    {
      function: "catalogue",
      action: own.action ?? undefined,
      bundleSha256: own.bundleSha256 ?? undefined,
      activationId: own.activationId ?? undefined,
    },
  ];
  return {
    "prov:wasGeneratedBy": activities,
    "prov:used": [{ path: file.path, adler32: file.adler32 }],
    ...(derivedFrom ? { "prov:wasDerivedFrom": [derivedFrom] } : {}),
  };
}

/** Derived files (PNG previews, JSON summaries) are named by their media type, raw ones by format. */
function dataFormatOf(file: FileRecord, derived: boolean): string {
  const format = file.metadata?.format ?? "unknown";
  if (derived && format === "unknown") return file.metadata?.contentType ?? contentTypeFor(file.path);
  return FORMAT_NAMES[format] ?? format;
}

export function datasetFor(
  file: FileRecord,
  pid: string,
  d: DatasetDefaults,
  derivedFrom?: string,
  steps: StepRecord[] = [],
): Record<string, unknown> {
  const entry = mainEntry(file);
  const md = file.metadata;
  const facts: NexusFacts = entry ? nexusFacts(entry) : { definitions: [], users: [] };
  const start = isoTime(facts.startTime);
  const end = isoTime(facts.endTime);
  const ds: Record<string, unknown> = {
    pid,
    type: "raw",
    datasetName: facts.title ?? baseName(file.path),
    sourceFolder: dirName(file.path),
    owner: d.owner,
    ownerGroup: d.ownerGroup,
    accessGroups: d.accessGroups ?? [],
    contactEmail: facts.contactEmail ?? d.contactEmail,
    principalInvestigator: facts.pi?.name ?? d.principalInvestigator,
    // a CBF header names only the detector: a last resort, not a location that beats the parameter
    creationLocation: facts.creationLocation ?? d.creationLocation ?? md?.cbf?.detector,
    creationTime: start ?? file.mtime ?? new Date().toISOString(),
    size: file.size ?? md?.size ?? 0,
    numberOfFiles: 1,
    dataFormat: dataFormatOf(file, !!derivedFrom),
    keywords: [...new Set([...(d.keywords ?? []), md?.format, ...facts.definitions].filter((k): k is string => !!k))],
  };
  if (start) ds.startTime = start;
  if (end) ds.endTime = end;
  if (facts.proposal) ds.proposalId = facts.proposal;
  if (facts.run) ds.runNumber = facts.run;
  if (facts.description) ds.description = facts.description;
  if (md?.exdf?.proposalNumber !== undefined) ds.proposalId ??= String(md.exdf.proposalNumber);
  if (md?.exdf?.runNumber !== undefined) ds.runNumber ??= String(md.exdf.runNumber);
  if (md?.exdf?.creationDate) ds.creationTime = isoTime(md.exdf.creationDate) ?? ds.creationTime;
  if (d.instrumentId) ds.instrumentId = d.instrumentId;
  if (d.license) ds.license = d.license;
  if (facts.pi?.orcid) ds.orcidOfOwner = facts.pi.orcid;
  const sci: Record<string, unknown> = { sourcePath: file.path, format: md?.format ?? "unknown" };
  if (facts.instrument) sci.instrumentName = facts.instrument;
  if (facts.source) sci.sourceName = facts.source;
  if (facts.sample?.name) sci.sampleName = facts.sample.name;
  const team = facts.users.map((u) => u.name).filter((n): n is string => !!n);
  if (team.length) sci.acquisitionTeamMembers = team;
  if (file.adler32) sci.adler32 = file.adler32;
  if (md?.nexus) sci.nexus = md.nexus.entries;
  if (md?.exdf) sci.exdf = md.exdf;
  if (md?.cbf) sci.cbf = { ...md.cbf, fields: undefined };
  if (md?.edf) sci.edf = { ...md.edf, fields: md.edf.fields };
  sci.provenance = provenanceOf(file, steps, derivedFrom);
  ds.scientificMetadata = JSON.parse(JSON.stringify(sci));
  if (derivedFrom) {
    // SciCat's derived dataset: who made it, from what, with which software; no raw-only fields.
    ds.type = "derived";
    ds.investigator = ds.principalInvestigator;
    ds.inputDatasets = [derivedFrom];
    ds.usedSoftware = ["derive"];
    delete ds.principalInvestigator;
    delete ds.creationLocation;
  }
  return Object.fromEntries(Object.entries(ds).filter(([, v]) => v !== undefined));
}

export function origDatablockFor(file: FileRecord): Record<string, unknown> {
  const entry: Record<string, unknown> = { path: baseName(file.path), size: file.size ?? 0, time: file.mtime ?? new Date().toISOString() };
  if (file.adler32) entry.chk = file.adler32;
  return { size: file.size ?? 0, chkAlg: "adler32", dataFileList: [entry] };
}
