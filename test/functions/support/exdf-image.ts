// An EXDF-like run file with detector frames: writeExdf's file plus
// INSTRUMENT/SPB_DET_AGIPD1M-1/DET/4CH0:xtdf/image/data (pulses × rows × columns, uint16).
import { writeExdf } from "./samples.ts";

export async function writeExdfWithImage(path: string): Promise<void> {
  await writeExdf(path);
  const m = await import("h5wasm/node");
  await m.ready;
  const f = new m.File(path, "a");
  try {
    const inst = f.get("INSTRUMENT") as InstanceType<typeof m.Group>;
    const img = inst.create_group("SPB_DET_AGIPD1M-1").create_group("DET").create_group("4CH0:xtdf").create_group("image");
    const px = new Uint16Array(3 * 32 * 16);
    for (let i = 0; i < px.length; i++) px[i] = i % 500;
    img.create_dataset({ name: "data", data: px, shape: [3, 32, 16], dtype: "<H" });
  } finally {
    f.close();
  }
}
