// European XFEL EXDF metadata: the METADATA/ group of a RAW/PROC run file (HDF5, not NeXus).
import type { H5File } from "./hdf5-open.ts";
import { child, describeDataset, fieldValue, isDataset, isGroup, smallValue, type Group, type Scalar } from "./hdf5-values.ts";

export interface ExdfMetadata {
  creationDate?: string;
  updateDate?: string;
  dataFormatVersion?: string;
  proposalNumber?: number;
  runNumber?: number;
  sequenceNumber?: number;
  daqLibrary?: string;
  karaboFramework?: string;
  dataSources: string[];
  /** Which of EXDF's top-level groups the file has (INDEX, CONTROL, RUN, INSTRUMENT…). */
  sections: string[];
  /** Detector image datasets (…/image/data under INSTRUMENT/) with their shape and type. */
  images: Array<{ path: string; shape: number[]; dtype: string }>;
}

/** Finds INSTRUMENT/<source…>/image/data datasets (AGIPD, LPD, JUNGFRAU… write frames there). */
function imageDatasets(root: Group): ExdfMetadata["images"] {
  const out: ExdfMetadata["images"] = [];
  const inst = child(root, "INSTRUMENT");
  if (!isGroup(inst)) return out;
  const walk = (g: Group, path: string, depth: number) => {
    if (depth > 6 || out.length >= 16) return;
    for (const name of g.keys()) {
      const e = child(g, name);
      const p = `${path}/${name}`;
      if (isGroup(e)) walk(e, p, depth + 1);
      else if (isDataset(e) && name === "data" && path.endsWith("/image")) {
        const d = describeDataset(e);
        if (d.shape.length >= 2) out.push({ path: p, ...d });
      }
    }
  };
  walk(inst, "/INSTRUMENT", 0);
  return out;
}

const TEXT = ["creationDate", "updateDate", "dataFormatVersion", "daqLibrary", "karaboFramework"] as const;
const NUMBERS = ["proposalNumber", "runNumber", "sequenceNumber"] as const;

function first(v: Scalar | Scalar[] | undefined): Scalar | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** EXDF files have a METADATA group and no NXentry; undefined if this file is not one. */
export function exdfMetadata(file: H5File): ExdfMetadata | undefined {
  const root = file as unknown as Group;
  const meta = child(root, "METADATA");
  if (!isGroup(meta)) return undefined;
  const out: ExdfMetadata = { dataSources: [], sections: root.keys().filter((k) => k !== "METADATA"), images: imageDatasets(root) };
  // Format version 1.0+ keeps most fields directly in METADATA; older files under METADATA/… too.
  for (const k of TEXT) {
    const v = first(fieldValue(meta, k));
    if (v !== undefined && v !== "") out[k] = String(v);
  }
  for (const k of NUMBERS) {
    const v = first(fieldValue(meta, k));
    if (v !== undefined && v !== "" && Number.isFinite(Number(v))) out[k] = Number(v);
  }
  const sources = child(meta, "dataSources");
  if (isGroup(sources)) {
    const list = child(sources, "dataSourceId");
    if (isDataset(list)) {
      // Can be long (one per device): read it only while it stays small.
      const shape = list.shape ?? [];
      const n = shape.reduce((a, b) => a * b, 1);
      if (n <= 4096) {
        const v = n <= 16 ? smallValue(list) : (list.value as unknown);
        const arr = Array.isArray(v) ? v : v === undefined ? [] : [v];
        out.dataSources = arr.map((x) => String(x).replace(/\0+$/, "")).filter(Boolean);
      }
    }
  }
  return out;
}
