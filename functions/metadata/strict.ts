// What a file's name promises about its format, and whether its bytes keep the promise. A `.nxs`
// full of random bytes must fail as what it is, not be catalogued as format "unknown" and archived.
import type { FileDescription, FileFormat } from "../../lib/formats/describe.ts";

const PROMISES: Array<{ ext: RegExp; formats: FileFormat[]; expected: string }> = [
  { ext: /\.(nxs|nx5|h5|hdf5|hdf)$/i, formats: ["nexus", "hdf5", "exdf"], expected: "HDF5 (NeXus)" },
  { ext: /\.cbf$/i, formats: ["cbf"], expected: "a CBF image (a ###CBF header with a binary section)" },
  { ext: /\.edf$/i, formats: ["edf"], expected: "an EDF image (a { … } header)" },
];

/** Why `md` breaks the promise of `path`'s name, or undefined when it keeps it (or the name promises nothing). */
export function formatProblem(path: string, md: FileDescription, head: Uint8Array): string | undefined {
  if (md.size === 0) return `${path}: empty file (0 bytes); a detector file has content, so it was written incompletely or by mistake`;
  const promise = PROMISES.find((p) => p.ext.test(path));
  if (!promise) return undefined;
  if (!promise.formats.includes(md.format)) {
    const found = md.format === "unknown" ? `no known signature (first bytes ${hexPreview(head)})` : `a ${md.format.toUpperCase()} file`;
    return `${path}: expected ${promise.expected} but found ${found}`;
  }
  if (md.format === "cbf" && !(md.cbf?.binary?.dimensions?.length === 2 && md.cbf.binary.dataOffset !== undefined)) {
    return `${path}: expected ${promise.expected} but its header does not parse (no binary section with two dimensions)`;
  }
  if (md.format === "edf" && !(md.edf && md.edf.dimensions.length === 2 && md.edf.dimensions.every((d) => d > 0))) {
    return `${path}: expected ${promise.expected} but its header does not parse (no Dim_1/Dim_2)`;
  }
  return undefined;
}

function hexPreview(head: Uint8Array): string {
  return Array.from(head.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join(" ") || "none";
}
