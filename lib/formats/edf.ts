// ESRF Data Format (EDF) header: an ASCII block `{ key = value ; … }` padded to a multiple of
// 512 bytes, followed by the raw image. Only the header bytes are read.
export interface EdfHeader {
  headerId?: string;
  image?: number;
  byteOrder?: string;
  dataType?: string;
  /** [Dim_1, Dim_2]: width, height. */
  dimensions: number[];
  size?: number;
  /** Where the binary data starts (the header's length in bytes). */
  headerBytes: number;
  fields: Record<string, string>;
}

export const EDF_HEADER_BYTES = 64 * 1024;

export function looksLikeEdf(head: Uint8Array): boolean {
  const s = new TextDecoder("latin1").decode(head.subarray(0, 1024));
  return /^\s*\{/.test(s) && /\b(HeaderID|EDF_DataBlockID|Dim_1|DataType)\s*=/.test(s);
}

export function parseEdfHeader(head: Uint8Array): EdfHeader {
  const text = new TextDecoder("latin1").decode(head);
  const open = text.indexOf("{");
  const close = text.indexOf("}", open);
  if (open < 0 || close < 0) {
    throw new Error(`EDF header has no closing "}" within the first ${head.length} bytes (truncated or not EDF)`);
  }
  const fields: Record<string, string> = {};
  for (const part of text.slice(open + 1, close).split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    if (key) fields[key] = part.slice(eq + 1).trim();
  }
  // The header ends at "}\n"; the data block begins right after (normally a 512-byte boundary).
  let headerBytes = close + 1;
  if (text[headerBytes] === "\r") headerBytes++;
  if (text[headerBytes] === "\n") headerBytes++;
  const n = (k: string) => (fields[k] !== undefined && Number.isFinite(Number(fields[k])) ? Number(fields[k]) : undefined);
  const out: EdfHeader = { dimensions: [], headerBytes, fields };
  if (fields.HeaderID) out.headerId = fields.HeaderID;
  const image = n("Image");
  if (image !== undefined) out.image = image;
  if (fields.ByteOrder) out.byteOrder = fields.ByteOrder;
  if (fields.DataType) out.dataType = fields.DataType;
  const d1 = n("Dim_1");
  const d2 = n("Dim_2");
  if (d1 !== undefined) out.dimensions.push(d1);
  if (d2 !== undefined) out.dimensions.push(d2);
  const size = n("Size");
  if (size !== undefined) out.size = size;
  return out;
}

/** Bytes per pixel and reader for EDF's DataType names. */
export function edfPixelType(
  dataType: string | undefined,
): { bytes: number; read(v: DataView, o: number, le: boolean): number } | undefined {
  switch ((dataType ?? "").toLowerCase()) {
    case "unsignedbyte":
    case "unsignedchar":
      return { bytes: 1, read: (v, o) => v.getUint8(o) };
    case "signedbyte":
    case "signedchar":
      return { bytes: 1, read: (v, o) => v.getInt8(o) };
    case "unsignedshort":
    case "unsignedshortinteger":
      return { bytes: 2, read: (v, o, le) => v.getUint16(o, le) };
    case "signedshort":
    case "signedshortinteger":
      return { bytes: 2, read: (v, o, le) => v.getInt16(o, le) };
    case "unsignedinteger":
    case "unsignedint":
    case "unsignedlong":
      return { bytes: 4, read: (v, o, le) => v.getUint32(o, le) };
    case "signedinteger":
    case "signedint":
    case "signedlong":
      return { bytes: 4, read: (v, o, le) => v.getInt32(o, le) };
    case "floatvalue":
    case "float":
    case "real":
      return { bytes: 4, read: (v, o, le) => v.getFloat32(o, le) };
    case "doublevalue":
    case "double":
      return { bytes: 8, read: (v, o, le) => v.getFloat64(o, le) };
    default:
      return undefined;
  }
}
