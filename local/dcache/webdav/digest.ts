// RFC 3230 instance digests: `Want-Digest: adler32, md5;q=0.5` → `Digest: adler32=0a1b2c3d`.
// ADLER32 comes from the checksum store (hashed at most once); others are computed on request.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

const SUPPORTED = ["adler32", "md5", "sha", "sha-256", "sha-512"] as const;
export type DigestAlgorithm = (typeof SUPPORTED)[number];

/** The preferred supported algorithm of a Want-Digest header, or undefined. */
export function chooseDigest(header: string | undefined): DigestAlgorithm | undefined {
  if (!header) return undefined;
  const wanted = header
    .split(",")
    .map((part, i) => {
      const [name, ...params] = part.trim().split(";");
      const q = params.map((p) => /^\s*q\s*=\s*([\d.]+)\s*$/.exec(p)).find(Boolean);
      return { name: name!.trim().toLowerCase(), q: q ? Number(q[1]) : 1, i };
    })
    .filter((w) => w.q > 0 && (SUPPORTED as readonly string[]).includes(w.name))
    .sort((a, b) => b.q - a.q || a.i - b.i);
  return wanted[0]?.name as DigestAlgorithm | undefined;
}

const NODE_HASH: Record<Exclude<DigestAlgorithm, "adler32">, string> = {
  md5: "md5",
  sha: "sha1",
  "sha-256": "sha256",
  "sha-512": "sha512",
};

export async function digestHeader(algo: DigestAlgorithm, fsPath: string, adler32: () => Promise<string>): Promise<string> {
  if (algo === "adler32") return `adler32=${await adler32()}`;
  const h = createHash(NODE_HASH[algo]);
  for await (const chunk of createReadStream(fsPath, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return `${algo === "sha" ? "SHA" : algo === "md5" ? "md5" : algo.toUpperCase()}=${h.digest("base64")}`;
}

/** Parses a client-supplied `Digest: adler32=…` header (to verify an upload); other algorithms are ignored. */
export function suppliedAdler32(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(",")) {
    const m = /^\s*adler32\s*=\s*([0-9a-fA-F]{1,8})\s*$/i.exec(part);
    if (m) return m[1]!.toLowerCase().padStart(8, "0");
  }
  return undefined;
}
