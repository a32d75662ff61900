// Opens an HDF5 file that h5wasm reads through a ByteSource, so only the byte ranges the HDF5
// library asks for are read (remote files are never downloaded whole).
import { setFlagsFromString } from "node:v8";
import type { ByteSource } from "./byte-source.ts";

type H5Module = typeof import("h5wasm");
export type H5File = InstanceType<H5Module["File"]>;

let loading: Promise<H5Module> | undefined;

/**
 * V8 compiles each wasm function on its first call with its baseline compiler and recompiles it
 * with the optimising one once it has run for a budget. With the default budget, opening one small
 * file sends hundreds of HDF5 functions to the optimiser: on two cores that doubles the CPU of a
 * container's first run (~550 → ~270 ms for a 64 KiB NeXus file) and slows it by a third, for code
 * that a small file never runs again. Ten times the budget still optimises what is really hot
 * (decompressing frames, walking big files). It applies to modules instantiated after it is set.
 */
const WASM_TIERING_BUDGET = 18_000_000;
/**
 * V8 compiles each wasm function lazily, on its first call, but by default validates all of the
 * module's 3 MB of code up front, when the module is compiled, though a container runs a fraction
 * of it. Each function validated as it is compiled instead, a container's first run costs 20–35 ms
 * less (metadata 182 → 165 ms, derive 295 → 266 ms, interleaved over 20 and 12 runs). The module
 * is h5wasm's own, pinned: a function that failed validation would fail its first call instead.
 */
const WASM_FLAGS = `--wasm-tiering-budget=${WASM_TIERING_BUDGET} --wasm-lazy-validation`;
let quiet = 0;
let diagnostics: string[] = [];

/**
 * Loads h5wasm once. The HDF5 library writes long error-stack diagnostics to stderr through the
 * console.error it captured when the module loaded; routing that through a filter set up first
 * keeps them out of action logs (they are collected for error messages instead).
 */
export function loadH5wasm(): Promise<H5Module> {
  if (!loading) {
    const original = console.error;
    console.error = (...args: unknown[]) => {
      if (quiet > 0) diagnostics.push(args.map(String).join(" "));
      else original.apply(console, args);
    };
    setFlagsFromString(WASM_FLAGS);
    loading = import("h5wasm").then(async (h5) => {
      await h5.ready;
      return h5;
    });
  }
  return loading;
}

/** Runs fn with HDF5 diagnostics silenced; returns its value and what HDF5 would have printed. */
export function withQuietHdf5<T>(fn: () => T): { value?: T; error?: unknown; diagnostics: string[] } {
  quiet++;
  const before = diagnostics.length;
  try {
    return { value: fn(), diagnostics: diagnostics.slice(before) };
  } catch (error) {
    return { error, diagnostics: diagnostics.slice(before) };
  } finally {
    quiet--;
    if (quiet === 0) diagnostics = [];
  }
}

let mounts = 0;

interface EmscriptenFS {
  writeFile(path: string, data: Uint8Array): void;
  unlink(path: string): void;
  lookupPath(path: string): { node: EmNode };
}
interface EmNode {
  usedBytes: number;
  /** Emscripten's MEMFS operations: `getattr` gives the node's stat record */
  node_ops: Record<string, (...a: never[]) => unknown> & { getattr?: (node: unknown) => Record<string, unknown> };
  stream_ops: Record<string, (...a: never[]) => unknown>;
}

export interface OpenedHdf5 {
  file: H5File;
  close(): void;
}

/** Opens the source read-only; throws a clear error if it is not readable HDF5. */
export async function openHdf5(source: ByteSource, label: string): Promise<OpenedHdf5> {
  const h5 = await loadH5wasm();
  const FS = h5.FS as unknown as EmscriptenFS;
  const name = `/source-${process.pid}-${++mounts}.h5`;
  // An empty MEMFS file whose size and reads are supplied by the source.
  FS.writeFile(name, new Uint8Array(0));
  const node = FS.lookupPath(name).node;
  const size = source.size;
  node.usedBytes = size;
  const getattr = node.node_ops.getattr!;
  node.node_ops = { ...node.node_ops, getattr: (n: unknown) => ({ ...getattr(n), size }) };
  let readError: unknown;
  node.stream_ops = {
    ...node.stream_ops,
    read(_stream: unknown, buffer: Uint8Array, offset: number, length: number, position: number) {
      try {
        return source.read(buffer, offset, length, position);
      } catch (e) {
        // HDF5 only sees a failed read; keep the real cause to report it.
        readError ??= e;
        throw e;
      }
    },
    llseek(stream: { position: number }, offset: number, whence: number) {
      const pos = whence === 1 ? stream.position + offset : whence === 2 ? size + offset : offset;
      if (pos < 0) throw new Error("negative seek");
      return pos;
    },
    write() {
      throw new Error("read-only");
    },
  };
  const opened = withQuietHdf5(() => new h5.File(name, "r"));
  if (opened.error !== undefined || !opened.value || opened.value.file_id < 0n) {
    FS.unlink(name);
    if (readError) throw readError;
    // The innermost frame of HDF5's error stack says most precisely what it could not read.
    const frames = opened.diagnostics.join("\n").match(/#\d+: .*? in \w+\(\): .*/g) ?? [];
    const why = frames.length ? frames[frames.length - 1]!.replace(/^#\d+: .*? in /, "") : undefined;
    throw new Error(`${label} is not a readable HDF5 file (corrupt, truncated or another format)${why ? `: ${why}` : ""}`);
  }
  const file = opened.value;
  return {
    file,
    close() {
      withQuietHdf5(() => file.close());
      FS.unlink(name);
    },
  };
}
