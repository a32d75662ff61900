// ADLER32 as dCache computes it (RFC 1950), incremental so that files are hashed while they stream.
const MOD = 65521;
// Largest n such that 255·n·(n+1)/2 + (n+1)·(MOD−1) stays below 2^32: sums may run that long unreduced.
const NMAX = 5552;

export class Adler32 {
  private a = 1;
  private b = 0;

  update(chunk: Uint8Array): this {
    let a = this.a;
    let b = this.b;
    const len = chunk.length;
    let i = 0;
    while (i < len) {
      const end = Math.min(i + NMAX, len);
      for (; i < end; i++) {
        a += chunk[i]!;
        b += a;
      }
      a %= MOD;
      b %= MOD;
    }
    this.a = a;
    this.b = b;
    return this;
  }

  /** The checksum as an unsigned 32-bit integer. */
  value(): number {
    return ((this.b << 16) | this.a) >>> 0;
  }

  /** The checksum as dCache writes it: 8 lowercase hex digits. */
  hex(): string {
    return this.value().toString(16).padStart(8, "0");
  }
}

export function adler32Hex(data: Uint8Array): string {
  return new Adler32().update(data).hex();
}

/** Hashes a stream of chunks (a file read stream, an HTTP body) without holding it in memory. */
export async function adler32OfStream(stream: AsyncIterable<Uint8Array>): Promise<{ hex: string; bytes: number }> {
  const sum = new Adler32();
  let bytes = 0;
  for await (const chunk of stream) {
    sum.update(chunk);
    bytes += chunk.length;
  }
  return { hex: sum.hex(), bytes };
}
