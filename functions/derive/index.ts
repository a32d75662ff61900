// derive: makes a derived data set from each file that holds a 2D detector frame (NeXus/HDF5
// signal dataset, miniCBF, EDF): a PNG preview and a JSON summary (frame statistics, provenance),
// written back with WebDAV PUT under a `derived/` folder. Those writes are storage events of
// their own, so they fire the next pipeline; files already under a derived folder are not derived
// again (no loops). Files without a frame are listed in `skipped` with the reason; a frame that
// cannot be decoded fails that file only.
import { functionVersion } from "../../lib/provenance.ts";
import { describeOpen, type FileDescription } from "../../lib/formats/describe.ts";
import type { ByteSource } from "../../lib/formats/byte-source.ts";
import type { OpenedHdf5 } from "../../lib/formats/hdf5-open.ts";
import {
  cbfFrame,
  edfFrame,
  frameOfOpenHdf5,
  frameStats,
  hdf5Frame,
  MAX_SIDE,
  nexusFrameSignal,
  PREVIEW_SCALE,
  previewPixels,
  type Frame,
} from "../../lib/formats/frame.ts";
import { encodeGreyPng } from "../../lib/formats/png.ts";
import { ActionError, FileFailure } from "../_shared/errors.ts";
import { fetchFile } from "../_shared/fetch-file.ts";
import { baseName, dirName } from "../_shared/files.ts";
import { defineAction, SkipFile } from "../_shared/run.ts";
import { validator } from "../_shared/schema.ts";
import { Storage, type StorageParams } from "../_shared/storage.ts";
import { HttpError } from "../../lib/http/sync-range-reader.ts";
import { deriveResultSchema, paramsSchema } from "./schema.ts";

type Params = StorageParams & { derivedDir?: string; derivedRoot?: string } & Record<string, unknown>;

const checkResult = validator(deriveResultSchema, "derive result");

/** Frames larger than MAX_SIDE are thinned out by taking every n-th pixel. */
function thin(f: Frame): Frame {
  const s = Math.ceil(Math.max(f.width, f.height) / MAX_SIDE);
  if (s <= 1) return f;
  const width = Math.ceil(f.width / s);
  const height = Math.ceil(f.height / s);
  const values = new Float64Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) values[y * width + x] = f.values[y * s * f.width + x * s]!;
  return { ...f, width, height, values, stride: f.stride * s };
}

/** The frame, read from `h5` when the file is open already (describeOpen), else opened here. */
async function frameOf(reader: ByteSource, path: string, md: FileDescription, h5?: OpenedHdf5): Promise<Frame | string> {
  if (md.format === "cbf" && md.cbf) return cbfFrame(reader, md.cbf);
  if (md.format === "edf" && md.edf) return edfFrame(reader, md.edf);
  const hdf5At = (dataset: string) => (h5 ? frameOfOpenHdf5(h5, dataset) : hdf5Frame(reader, path, dataset));
  if (md.format === "nexus" || md.format === "hdf5") {
    const signal = nexusFrameSignal(md.nexus?.entries ?? []);
    return typeof signal === "string" ? signal : hdf5At(signal.path);
  }
  if (md.format === "exdf") {
    const image = md.exdf?.images.find((d) => /^[<>][iuf]/.test(d.dtype));
    if (!image) return "no INSTRUMENT/…/image/data detector frames in this EXDF file";
    return hdf5At(image.path);
  }
  return `format ${md.format} holds no detector frame this function can read`;
}

export function derivedPaths(path: string, p: Params): { preview: string; summary: string } {
  const dir = p.derivedRoot
    ? p.derivedRoot.replace(/\/+$/, "") + dirName(path).replace(/\/$/, "")
    : `${dirName(path).replace(/\/$/, "")}/${p.derivedDir ?? "derived"}`;
  const name = baseName(path);
  return { preview: `${dir}/${name}.preview.png`, summary: `${dir}/${name}.summary.json` };
}

export const main = defineAction<Params>("derive", paramsSchema, async (p, ctx) => {
  const storage = new Storage(p);
  const derivedMark = `/${p.derivedDir ?? "derived"}/`;
  // one file at a time: frames are decoded synchronously and can be large
  const files = await ctx.each(ctx.files, 1, async (file) => {
    if (file.path.includes(derivedMark) || (p.derivedRoot && file.path.startsWith(`${p.derivedRoot.replace(/\/+$/, "")}/`))) {
      throw new SkipFile("already a derived file");
    }
    // size and mtime as the storage has them: what the feed's file ledger knows the processed bytes by;
    // with metadata found in the bytes of that size, the frame is read where it was found
    const { reader, stat } =
      file.size !== undefined && file.metadata
        ? { reader: await storage.bytes(file.path, file.size), stat: { size: file.size } }
        : await fetchFile(storage, file, (bytes) => ctx.count(bytes));
    const size = stat.size;
    // an HDF5 file described here stays open for its frame: opened and walked once
    let h5: OpenedHdf5 | undefined;
    try {
      // bytes that do not parse fail for good; a broken transfer may pass
      const failure = (why: string, e: unknown) =>
        e instanceof HttpError ? new ActionError(why, e.status === 206 ? 0 : e.status) : new FileFailure(why, true);
      let md: FileDescription;
      try {
        if (file.metadata) md = file.metadata;
        // only where the frames are: the description is metadata's job
        else ({ description: md, hdf5: h5 } = await describeOpen(reader, file.path, { walk: "signals" }));
      } catch (e) {
        const msg = (e as Error).message;
        throw failure(msg.includes(file.path) ? msg : `${file.path}: ${msg}`, e);
      }
      let frame: Frame | string;
      try {
        frame = await frameOf(reader, file.path, md, h5);
      } catch (e) {
        throw failure(`${file.path}: cannot read the detector frame (${(e as Error).message})`, e);
      }
      if (typeof frame === "string") throw new SkipFile(frame);
      frame = thin(frame);
      const stats = frameStats(frame);
      const png = encodeGreyPng(previewPixels(frame, stats), frame.width, frame.height);
      const out = derivedPaths(file.path, p);
      const summary = Buffer.from(
        `${JSON.stringify(
          {
            source: { path: file.path, size, adler32: file.adler32, format: md.format },
            frame: { origin: frame.origin, width: frame.width, height: frame.height, stride: frame.stride },
            stats,
            preview: { path: out.preview, scale: PREVIEW_SCALE },
            createdAt: new Date().toISOString(),
            generator: `derive ${process.env.__OW_ACTION_VERSION || "0.1.0"}`,
            // the code that made this file (W3C PROV): its action, bundle SHA-256 and activation
            provenance: { "prov:wasGeneratedBy": functionVersion(), "prov:used": [{ path: file.path, adler32: file.adler32 }] },
          },
          null,
          2,
        )}\n`,
      );
      await storage.put(out.preview, png, "image/png");
      await storage.put(out.summary, summary, "application/json");
      ctx.count(0, png.length + summary.length);
      return {
        ...file,
        size,
        ...(stat.mtime ? { mtime: stat.mtime } : {}),
        derived: [
          { path: out.preview, kind: "preview", size: png.length, contentType: "image/png" },
          { path: out.summary, kind: "summary", size: summary.length, contentType: "application/json" },
        ],
      };
    } finally {
      h5?.close();
      ctx.count(reader.stats.bytes);
      reader.close();
    }
  });
  const out = { files };
  checkResult(out);
  return out;
});
