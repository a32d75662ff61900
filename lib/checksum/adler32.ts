// ADLER32 as dCache computes it (RFC 1950), incremental so that files are hashed while they stream.
const MOD = 65521;
// Largest n such that 255·n·(n+1)/2 + (n+1)·(MOD−1) stays below 2^32: sums may run that long unreduced.
const NMAX = 5552;
// 32-bit words between reductions: NMAX bytes keep the sums exact (and small enough for V8's fast paths).
const WORDS_PER_REDUCTION = Math.floor(NMAX / 16) * 4;
// The word loop reads bytes in memory order only on little-endian machines (x86, ARM as Node runs them).
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export class Adler32 {
  private a = 1;
  private b = 0;

  update(chunk: Uint8Array): this {
    let a = this.a;
    let b = this.b;
    const len = chunk.length;
    let i = 0;
    // Bytes before the first 4-byte boundary, so the bulk can be read as aligned 32-bit words.
    const head = LITTLE_ENDIAN ? Math.min(len, (4 - (chunk.byteOffset & 3)) & 3) : len;
    for (; i < head; i++) {
      a += chunk[i]!;
      b += a;
    }
    if (head > 0) {
      a %= MOD;
      b %= MOD;
    }
    const words = ((len - i) >>> 4) * 4;
    if (words > 0) {
      // Sixteen bytes per step from four aligned words, summed as SWAR: masking a word with
      // 0x00ff00ff keeps bytes 0 and 2 in two 16-bit lanes (>>> 8 first: bytes 1 and 3), so one
      // add sums two bytes. a gains the sixteen bytes; b gains 16·a plus each byte times the
      // number of the sixteen running sums it is part of: byte j of word i counts 4·(4−i) − j
      // times. Lanes stay below 2^16 (at most 10 × 255), so they never carry into each other.
      // This is ~4× a byte-at-a-time loop in V8.
      const w32 = new Uint32Array(chunk.buffer, chunk.byteOffset + i, words);
      let k = 0;
      while (k < words) {
        const end = Math.min(k + WORDS_PER_REDUCTION, words);
        for (; k < end; k += 4) {
          const w0 = w32[k]!,
            w1 = w32[k + 1]!,
            w2 = w32[k + 2]!,
            w3 = w32[k + 3]!;
          const e0 = w0 & 0xff00ff,
            e1 = w1 & 0xff00ff,
            e2 = w2 & 0xff00ff,
            e3 = w3 & 0xff00ff;
          const o0 = (w0 >>> 8) & 0xff00ff,
            o1 = (w1 >>> 8) & 0xff00ff,
            o2 = (w2 >>> 8) & 0xff00ff,
            o3 = (w3 >>> 8) & 0xff00ff;
          const even = e0 + e1 + e2 + e3;
          const odd = o0 + o1 + o2 + o3;
          const evenW = 4 * e0 + 3 * e1 + 2 * e2 + e3;
          const oddW = 4 * o0 + 3 * o1 + 2 * o2 + o3;
          const oddLo = odd & 0xffff,
            evenHi = even >>> 16,
            oddHi = odd >>> 16;
          b += 16 * a + 4 * ((evenW & 0xffff) + (evenW >>> 16) + (oddW & 0xffff) + (oddW >>> 16)) - (oddLo + 2 * evenHi + 3 * oddHi);
          a += (even & 0xffff) + evenHi + oddLo + oddHi;
        }
        a %= MOD;
        b %= MOD;
      }
      i += words * 4;
    }
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
