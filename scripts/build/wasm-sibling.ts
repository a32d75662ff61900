// h5wasm ships its WebAssembly (3.5 MB) inlined in JavaScript as a 4 MB string literal that every
// container start parses and decodes byte by byte before compiling it. This esbuild plugin moves it
// out: the bundle reads `hdf5.wasm` from beside itself (the action's zip holds both), which takes a
// few milliseconds instead of a large share of the cold start. The bytes are the package's own,
// decoded at build time exactly as its loader decodes them at run time. The plugin also makes the
// loader start the HDF5 library from its initialised memory image (hdf5-image.ts).
import type { Plugin } from "esbuild";
import { readFileSync } from "node:fs";
import { restoreSource } from "./hdf5-image.ts";

export const WASM_FILE = "hdf5.wasm";

// Emscripten's single-file loader: findWasmBinary returns binaryDecode('<one byte per character>').
const OPENING = "function findWasmBinary(){return binaryDecode('";
const CLOSING = "')}";
const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];
// Emscripten's initRuntime: the module's constructors (the HDF5 library's initialisation among them)
const CONSTRUCTORS = 'wasmExports["__wasm_call_ctors"]();';

/** Where the inlined literal is in the loader's source: [start of the function, end of it, the literal]. */
function findInlined(source: string): { from: number; to: number; literal: string } | undefined {
  const from = source.indexOf(OPENING);
  if (from < 0) return undefined;
  let i = from + OPENING.length;
  // the literal ends at the first quote that is not escaped
  while (i < source.length && source[i] !== "'") i += source[i] === "\\" ? 2 : 1;
  if (!source.startsWith(CLOSING, i)) return undefined;
  return { from, to: i + CLOSING.length, literal: source.slice(from + OPENING.length, i) };
}

/** The wasm bytes of Emscripten's inlined binaryDecode string (as its binaryDecode computes them). */
export function decodeInlinedWasm(literal: string): Uint8Array {
  // The literal is JavaScript source (escapes included) from the pinned package: let JS read it.
  const text = new Function(`return '${literal}'`)() as string;
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    out[i] = (~c >> 8) & c;
  }
  return out;
}

/**
 * The plugin, and the wasm it took out of the bundle and the loader it took it from (undefined when
 * the bundle does not use h5wasm). A new h5wasm whose loader looks different fails the build rather
 * than shipping the inlined copy.
 */
export function wasmSibling(): { plugin: Plugin; wasm(): { bytes: Uint8Array; loaderPath: string } | undefined } {
  let wasm: { bytes: Uint8Array; loaderPath: string } | undefined;
  const plugin: Plugin = {
    name: "h5wasm-wasm-sibling",
    setup(build) {
      build.onLoad({ filter: /[\\/]h5wasm[\\/]dist[\\/]esm[\\/]hdf5_util\.js$/ }, (args) => {
        const source = readFileSync(args.path, "utf8");
        const m = findInlined(source);
        if (!m)
          throw new Error(
            `${args.path}: no inlined wasm (findWasmBinary/binaryDecode) found; h5wasm's loader changed, update scripts/build/wasm-sibling.ts`,
          );
        const bytes = decodeInlinedWasm(m.literal);
        if (!WASM_MAGIC.every((b, i) => bytes[i] === b))
          throw new Error(
            `${args.path}: the inlined string does not decode to WebAssembly (no \\0asm magic); update scripts/build/wasm-sibling.ts`,
          );
        const load = `var wasmFileBytes=0;function findWasmBinary(){var b=require("node:fs").readFileSync(require("node:path").join(__dirname,${JSON.stringify(WASM_FILE)}));wasmFileBytes=b.length;return b}${restoreSource("wasmFileBytes")}`;
        const contents = source.slice(0, m.from) + load + source.slice(m.to);
        if (contents.split(CONSTRUCTORS).length !== 2)
          throw new Error(
            `${args.path}: the call of the module's constructors (${CONSTRUCTORS}) is not there once; h5wasm's loader changed, update scripts/build/wasm-sibling.ts`,
          );
        wasm = { bytes, loaderPath: args.path };
        return { contents: contents.replace(CONSTRUCTORS, `restoreHdf5Image();${CONSTRUCTORS}`), loader: "js" };
      });
    },
  };
  return { plugin, wasm: () => wasm };
}
