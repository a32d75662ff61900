// Small, safe reads from an open HDF5 file: scalar fields and attributes as plain JSON values.
// Large datasets (detector frames) are never read here: only their shape and type are reported.
import type { H5File } from "./hdf5-open.ts";

type Entity = ReturnType<H5File["get"]>;
export type Group = Extract<NonNullable<Entity>, { keys(): string[] }>;
export type Dataset = Extract<NonNullable<Entity>, { shape: number[] | null; slice: unknown }>;
export type Scalar = string | number | boolean;

/** Elements a field may have and still be read as a value (NeXus scalars are often shape [1]). */
const MAX_ELEMENTS = 16;
const MAX_BYTES = 64 * 1024;

export function isGroup(e: Entity | undefined): e is Group {
  return !!e && (e as { type?: string }).type === "Group";
}

export function isDataset(e: Entity | undefined): e is Dataset {
  return !!e && (e as { type?: string }).type === "Dataset";
}

/** An HDF5 external link: h5wasm reports it without following it, so its target file is never opened. */
export function externalLinkOf(e: Entity | undefined): { file: string; path: string } | undefined {
  if (!e || (e as { type?: string }).type !== "ExternalLink") return undefined;
  const l = e as unknown as { filename: string; obj_path: string };
  return { file: l.filename, path: l.obj_path };
}

/** Sources of a virtual dataset (file "." means this file), or undefined for any other layout. */
export function virtualSources(ds: Dataset): Array<{ file: string; dataset: string }> | undefined {
  try {
    const v = (ds.metadata as { virtual_sources?: Array<{ file_name: string; dset_name: string }> }).virtual_sources;
    return v?.map((s) => ({ file: s.file_name, dataset: s.dset_name }));
  } catch {
    return undefined;
  }
}

const listed = new WeakMap<Group, string[]>();

/**
 * The names in a group, listed once per group object: a walk looks a group's children up one by
 * one, and listing them again for each was a quarter of a NeXus walk. The files are open read-only.
 */
export function keysOf(group: Group): string[] {
  let names = listed.get(group);
  if (!names) {
    names = group.keys();
    listed.set(group, names);
  }
  return names;
}

/** A child of a group, or undefined; never asks HDF5 for a name the group does not list. */
export function child(group: Group, name: string): Entity | undefined {
  if (!keysOf(group).includes(name)) return undefined;
  try {
    return group.get(name) ?? undefined;
  } catch {
    return undefined;
  }
}

/** The object at an absolute path, walked one listed name at a time (no HDF5 lookups of names that do not exist). */
export function entityAt(from: Group, absPath: string): Entity | undefined {
  let at: Entity | undefined = from.root as Group;
  for (const part of absPath.split("/").filter(Boolean)) {
    if (!isGroup(at)) return undefined;
    at = child(at, part);
  }
  return at;
}

function plain(v: unknown): Scalar | Scalar[] | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === "bigint") return Number(v);
  if (typeof v === "string") return v.replace(/\0+$/, "").trim();
  if (typeof v === "number" || typeof v === "boolean") return v;
  if (ArrayBuffer.isView(v) || Array.isArray(v)) {
    const items = Array.from(v as ArrayLike<unknown>)
      .map(plain)
      .filter((x): x is Scalar => x !== undefined && !Array.isArray(x));
    return items.length === 1 ? items[0] : items;
  }
  return undefined;
}

/** The value of a small dataset as a JSON scalar (or short array); undefined for big or odd ones. */
export function smallValue(ds: Dataset): Scalar | Scalar[] | undefined {
  try {
    const shape = ds.shape ?? [];
    const elements = shape.reduce((a, b) => a * b, 1);
    if (elements > MAX_ELEMENTS || elements * (ds.metadata.size || 1) > MAX_BYTES) return undefined;
    return plain(ds.value);
  } catch {
    return undefined;
  }
}

/** A field of a group as text (first element of a short array), or undefined if absent/empty. */
export function fieldText(group: Group, name: string): string | undefined {
  const e = child(group, name);
  if (!isDataset(e)) return undefined;
  const v = smallValue(e);
  const first = Array.isArray(v) ? v[0] : v;
  if (first === undefined || first === "") return undefined;
  return String(first);
}

export function fieldValue(group: Group, name: string): Scalar | Scalar[] | undefined {
  const e = child(group, name);
  return isDataset(e) ? smallValue(e) : undefined;
}

/** An attribute of a field, e.g. the `short_name` NeXus puts on NXsource/name. */
export function fieldAttrText(group: Group, field: string, attr: string): string | undefined {
  const e = child(group, field);
  return isDataset(e) ? attrText(e as unknown as { attrs: Record<string, { value: unknown }> }, attr) : undefined;
}

export function attrText(obj: { attrs: Record<string, { value: unknown }> }, name: string): string | undefined {
  try {
    // `attrs` lists the names; taking one from it reads that attribute's metadata, then its value:
    // asked for by name, HDF5 reads it once (and a name it does not list is never asked for)
    if (!(name in obj.attrs)) return undefined;
    const v = plain((obj as unknown as { get_attribute(n: string, json: false): unknown }).get_attribute(name, false));
    const first = Array.isArray(v) ? v[0] : v;
    return first === undefined ? undefined : String(first);
  } catch {
    return undefined;
  }
}

export function nxClass(e: Entity | undefined): string | undefined {
  return e ? attrText(e as unknown as { attrs: Record<string, { value: unknown }> }, "NX_class") : undefined;
}

/** Datatype in numpy notation (e.g. "<i4", "<f8", "str") and shape of a dataset. */
export function describeDataset(ds: Dataset): { shape: number[]; dtype: string } {
  const m = ds.metadata;
  // HDF5 type classes: 0 integer, 1 float, 3 string; the rest are reported by class only.
  const order = m.littleEndian ? "<" : ">";
  const dtype =
    m.type === 0
      ? `${order}${m.signed ? "i" : "u"}${m.size}`
      : m.type === 1
        ? `${order}f${m.size}`
        : m.type === 3
          ? "str"
          : `class${m.type}`;
  return { shape: ds.shape ?? [], dtype };
}
