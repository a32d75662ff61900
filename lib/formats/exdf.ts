// European XFEL EXDF metadata: the METADATA/ group of a RAW/PROC run file (HDF5, not NeXus).
import type { H5File } from "./hdf5-open.ts";
import { child, fieldValue, isDataset, isGroup, smallValue, type Group, type Scalar } from "./hdf5-values.ts";

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
  const out: ExdfMetadata = { dataSources: [], sections: root.keys().filter((k) => k !== "METADATA") };
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
