// Writes a NeXus file from a plain description of its tree, with the HDF5 library (h5wasm), so the
// edge cases seen in facility files (NXsubentry, nested NXsample, unnamed NXinstrument, external
// links, user roles, offset detector frames) are real HDF5 files that tests read back.

type H5 = typeof import("h5wasm/node");
let h5: Promise<H5> | undefined;

/** Loads the writer; its first load can take many seconds on a busy machine, so suites call it in a `before` hook with a long timeout. */
export function lib(): Promise<H5> {
  h5 ??= import("h5wasm/node").then(async (m) => {
    await m.ready;
    return m;
  });
  return h5;
}

export interface NxFrame {
  /** Frames × height × width, uint16. */
  shape: [number, number, number];
  value: (k: number, y: number, x: number) => number;
}

export interface NxGroup {
  /** NX_class; omitted for a group without one. */
  nx?: string;
  attrs?: Record<string, string>;
  fields?: Record<string, string | number>;
  groups?: Record<string, NxGroup>;
  /** Name → external link target. */
  external?: Record<string, { file: string; path: string }>;
  frames?: Record<string, NxFrame>;
}

type Writable = {
  create_group(name: string): Writable;
  create_attribute(name: string, v: string): void;
  create_dataset(a: object): unknown;
  create_external_link(file: string, target: string, name: string): number;
};

function write(into: Writable, g: NxGroup): void {
  if (g.nx) into.create_attribute("NX_class", g.nx);
  for (const [k, v] of Object.entries(g.attrs ?? {})) into.create_attribute(k, v);
  for (const [k, v] of Object.entries(g.fields ?? {})) into.create_dataset({ name: k, data: v });
  for (const [k, f] of Object.entries(g.frames ?? {})) {
    const [n, h, w] = f.shape;
    const px = new Uint16Array(n * h * w);
    for (let k2 = 0; k2 < n; k2++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px[(k2 * h + y) * w + x] = f.value(k2, y, x);
    into.create_dataset({ name: k, data: px, shape: [n, h, w], dtype: "<H" });
  }
  for (const [k, l] of Object.entries(g.external ?? {})) into.create_external_link(l.file, l.path, k);
  for (const [k, child] of Object.entries(g.groups ?? {})) write(into.create_group(k), child);
}

/** Writes `root`'s groups (each usually an NXentry) to a new HDF5 file at `path`. */
export async function writeNexusTree(path: string, root: Record<string, NxGroup>): Promise<void> {
  const m = await lib();
  const f = new m.File(path, "w");
  try {
    write(f as unknown as Writable, { groups: root });
  } finally {
    f.close();
  }
}
