// The HDF5 library initialises itself when h5wasm's module starts (a static constructor calls
// H5_init_library): it registers its property lists, error classes and datatype conversion paths,
// 50–80 ms of every container's cold start here, always to the same state. That state lives in the
// module's linear memory alone, so it is captured once at build time, in a fresh process: the bytes
// that initialisation changed (what the memory holds once h5wasm is ready, where it differs from the
// memory just before the constructors), shipped beside the bundle. The bundle's loader writes them
// into memory before the module's constructors run; the library then finds itself initialised
// (H5_libinit_g), and the constructors only repeat what registers h5wasm's functions with
// JavaScript.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

export const IMAGE_FILE = "hdf5-memory.bin";
/**
 * The file starts with this, then the byte length of the hdf5.wasm it belongs to (uint32 LE), then
 * the changed runs of memory, each as its offset and length (uint32 LE) and its bytes.
 */
export const IMAGE_MAGIC = "HDF5MEM2";
const IMAGE_HEADER_BYTES = IMAGE_MAGIC.length + 4;

// Started as h5wasm's own hdf5_hl.js starts the loader. The memory before the constructors is what
// Emscripten's preRun callbacks see (the module instantiated, its data segments in place). Of 2.7 MB
// in use after initialisation, ~41 KB differ from it, in ~600 runs (changed bytes less than 64 apart
// in one run): an image of 175 KB instead of the whole 2.7 MB to read and copy at every cold start.
const CAPTURE = `
import { writeFileSync } from "node:fs";
const { default: factory } = await import(process.argv[1]);
let before;
const heap = (await factory({ noInitialRun: true, preRun: [(m) => { before = m.HEAPU8.slice(); }] })).HEAPU8;
const same = (i) => heap[i] === (before[i] ?? 0);
const parts = [];
for (let i = 0; i < heap.length; ) {
  if (same(i)) { i++; continue; }
  let end = i + 1;
  for (let j = end; j < heap.length && j - end < 64; j++) if (!same(j)) end = j + 1;
  const head = Buffer.alloc(8);
  head.writeUInt32LE(i, 0);
  head.writeUInt32LE(end - i, 4);
  parts.push(head, heap.subarray(i, end));
  i = end;
}
writeFileSync(process.argv[2], Buffer.concat(parts));
`;

/** Images captured in this process (a build bundles several actions from the same h5wasm). */
const captured = new Map<string, Uint8Array>();

/** captureHdf5Image, once per loader in this process. */
export function hdf5Image(loaderPath: string, wasmBytes: number): Uint8Array {
  const key = `${wasmBytes} ${loaderPath}`;
  const image = captured.get(key) ?? captureHdf5Image(loaderPath, wasmBytes);
  captured.set(key, image);
  return image;
}

/**
 * The memory image of h5wasm's loader at `loaderPath` (its dist/esm/hdf5_util.js, the wasm inlined)
 * once initialised, for a hdf5.wasm of `wasmBytes` bytes (the same bytes, taken out of that loader).
 */
export function captureHdf5Image(loaderPath: string, wasmBytes: number): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), "hdf5-image-"));
  try {
    const out = join(dir, "memory");
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", CAPTURE, pathToFileURL(loaderPath).href, out], {
      cwd: dir,
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`could not capture the initialised HDF5 memory from ${loaderPath}: ${r.stderr || r.error}`);
    const changes = readFileSync(out);
    const header = Buffer.alloc(IMAGE_HEADER_BYTES);
    header.write(IMAGE_MAGIC, "latin1");
    header.writeUInt32LE(wasmBytes, IMAGE_MAGIC.length);
    return Buffer.concat([header, changes]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * JavaScript for the loader: `restoreHdf5Image()` writes the image beside the bundle into the
 * module's memory (grown to hold it). It refuses an image made for another hdf5.wasm. `wasmBytes` is
 * the name of the loader variable holding the byte length of the wasm it read.
 */
export function restoreSource(wasmBytes: string): string {
  return `function restoreHdf5Image(){var img=require("node:fs").readFileSync(require("node:path").join(__dirname,${JSON.stringify(IMAGE_FILE)}));if(img.toString("latin1",0,${IMAGE_MAGIC.length})!==${JSON.stringify(IMAGE_MAGIC)}||img.readUInt32LE(${IMAGE_MAGIC.length})!==${wasmBytes})throw new Error(${JSON.stringify(`${IMAGE_FILE} beside this action was not made for its hdf5.wasm: build and deploy the action again (npm run build, serverless deploy)`)});for(var p=${IMAGE_HEADER_BYTES};p<img.length;p+=8+len){var at=img.readUInt32LE(p),len=img.readUInt32LE(p+4),pages=Math.ceil((at+len)/65536)-wasmMemory.buffer.byteLength/65536;if(pages>0){wasmMemory.grow(pages);updateMemoryViews()}HEAPU8.set(img.subarray(p+8,p+8+len),at)}}`;
}
