// The HDF5 library initialises itself when h5wasm's module starts (a static constructor calls
// H5_init_library): it registers its property lists, error classes and datatype conversion paths,
// 50–80 ms of every container's cold start here, always to the same state. That state lives in the
// module's linear memory alone, so it is captured once at build time, in a fresh process, as the
// bytes of that memory after h5wasm is ready, and shipped beside the bundle. The bundle's loader
// copies them into memory before the module's constructors run; the library then finds itself
// initialised (H5_libinit_g), and the constructors only repeat what registers h5wasm's functions
// with JavaScript.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

export const IMAGE_FILE = "hdf5-memory.bin";
/** The file starts with this, then the byte length of the hdf5.wasm it belongs to (uint32 LE), then the memory. */
export const IMAGE_MAGIC = "HDF5MEM1";
const IMAGE_HEADER_BYTES = IMAGE_MAGIC.length + 4;

// Started as h5wasm's own hdf5_hl.js starts the loader; the memory is cut after its last non-zero
// byte (a fresh module's memory beyond it is zero too).
const CAPTURE = `
import { writeFileSync } from "node:fs";
const { default: factory } = await import(process.argv[1]);
const heap = (await factory({ noInitialRun: true })).HEAPU8;
let n = heap.length;
while (n > 0 && heap[n - 1] === 0) n--;
writeFileSync(process.argv[2], heap.subarray(0, n));
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
    const memory = readFileSync(out);
    const header = Buffer.alloc(IMAGE_HEADER_BYTES);
    header.write(IMAGE_MAGIC, "latin1");
    header.writeUInt32LE(wasmBytes, IMAGE_MAGIC.length);
    return Buffer.concat([header, memory]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * JavaScript for the loader: `restoreHdf5Image()` copies the image beside the bundle into the
 * module's memory (grown to hold it). It refuses an image made for another hdf5.wasm. `wasmBytes` is
 * the name of the loader variable holding the byte length of the wasm it read.
 */
export function restoreSource(wasmBytes: string): string {
  return `function restoreHdf5Image(){var img=require("node:fs").readFileSync(require("node:path").join(__dirname,${JSON.stringify(IMAGE_FILE)}));if(img.toString("latin1",0,${IMAGE_MAGIC.length})!==${JSON.stringify(IMAGE_MAGIC)}||img.readUInt32LE(${IMAGE_MAGIC.length})!==${wasmBytes})throw new Error(${JSON.stringify(`${IMAGE_FILE} beside this action was not made for its hdf5.wasm: build and deploy the action again (npm run build, serverless deploy)`)});var memory=img.subarray(${IMAGE_HEADER_BYTES});var pages=Math.ceil(memory.length/65536)-wasmMemory.buffer.byteLength/65536;if(pages>0){wasmMemory.grow(pages);updateMemoryViews()}HEAPU8.set(memory)}`;
}
