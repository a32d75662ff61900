// Synchronous random access to a file's bytes: what the HDF5 library needs to read in place.
// SyncRangeReader (lib/http) is the remote one; FileByteSource serves a local file, MemoryByteSource
// bytes already in memory (a small remote file fetched whole with one request).
import { closeSync, fstatSync, openSync, readSync } from "node:fs";

export interface ByteSource {
  readonly size: number;
  /** Copies up to `length` bytes at `position` into `target[offset…]`; returns the count (0 at EOF). */
  read(target: Uint8Array, offset: number, length: number, position: number): number;
}

export class FileByteSource implements ByteSource {
  readonly size: number;
  readonly stats = { requests: 0, bytes: 0 };
  private readonly fd: number;

  constructor(path: string) {
    this.fd = openSync(path, "r");
    this.size = fstatSync(this.fd).size;
  }

  read(target: Uint8Array, offset: number, length: number, position: number): number {
    const n = readSync(this.fd, target, offset, Math.max(0, Math.min(length, this.size - position)), position);
    this.stats.requests++;
    this.stats.bytes += n;
    return n;
  }

  close(): void {
    closeSync(this.fd);
  }
}

export class MemoryByteSource implements ByteSource {
  readonly size: number;
  /** `bytes`: what it took to get them (one request, the whole file). */
  readonly stats: { requests: number; bytes: number };

  constructor(
    private readonly bytes: Uint8Array,
    fetched: { requests: number; bytes: number } = { requests: 0, bytes: 0 },
  ) {
    this.size = bytes.length;
    this.stats = { ...fetched };
  }

  read(target: Uint8Array, offset: number, length: number, position: number): number {
    const end = Math.min(this.size, position + Math.max(0, length));
    if (end <= position) return 0;
    target.set(this.bytes.subarray(position, end), offset);
    return end - position;
  }

  close(): void {}
}
