// ADLER32 checksums of stored files, kept so that a second read does not hash the file again.
// An entry is valid while the file keeps the inode, size and mtime it had when it was hashed.
// Uploads through the WebDAV door record the checksum they computed while the data streamed in,
// and announce themselves as pending so that whoever reports IN_CLOSE_WRITE can wait for it.
import { createReadStream, readFileSync, statSync, type Stats } from "node:fs";
import { Adler32 } from "../../lib/checksum/adler32.ts";
import type { ChecksumDb } from "./checksum-db.ts";

/**
 * Files (and GET ranges) up to this size are read with one synchronous read: a fraction of a
 * millisecond, where a stream's open, read and close each wait in the thread pool behind all other I/O.
 */
export const READ_AT_ONCE_BYTES = 1024 * 1024;

interface Entry {
  ino: number;
  size: number;
  mtimeMs: number;
  adler32: string;
}

export interface ChecksumStoreHooks {
  /** called just before the store opens a file to hash it (the kernel will report that open) */
  beforeOwnRead?(fsPath: string): void;
}

export class ChecksumStore {
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<void>>();
  private readonly computing = new Map<string, Promise<string>>();

  /** `db` (optional) keeps the checksums across restarts; keys are paths relative to the root. */
  constructor(
    private readonly hooks: ChecksumStoreHooks = {},
    private readonly db?: { store: ChecksumDb; keyOf: (fsPath: string) => string },
  ) {}

  /** The stored checksum if it still describes the file as `st` shows it. */
  lookup(fsPath: string, st: Stats): string | undefined {
    let e = this.entries.get(fsPath);
    if (!e && this.db) {
      e = this.db.store.get(this.db.keyOf(fsPath));
      if (e) this.entries.set(fsPath, e);
    }
    return e && e.ino === st.ino && e.size === st.size && e.mtimeMs === st.mtimeMs ? e.adler32 : undefined;
  }

  record(fsPath: string, st: Stats, adler32: string): void {
    const e = { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, adler32 };
    this.entries.set(fsPath, e);
    this.db?.store.put(this.db.keyOf(fsPath), e);
  }

  forget(fsPath: string): void {
    this.entries.delete(fsPath);
    this.db?.store.delete(this.db.keyOf(fsPath));
  }

  /** Follows a rename: the checksum belongs to the file, not the name. */
  rename(from: string, to: string): void {
    for (const [k, v] of [...this.entries]) {
      if (k === from || k.startsWith(`${from}/`)) {
        this.entries.delete(k);
        this.entries.set(to + k.slice(from.length), v);
      }
    }
    this.db?.store.rename(this.db.keyOf(from), this.db.keyOf(to));
  }

  /** An upload to `fsPath` has started; call the returned function once its checksum is recorded. */
  beginUpload(fsPath: string): () => void {
    let done!: () => void;
    const p = new Promise<void>((r) => (done = r));
    this.pending.set(fsPath, p);
    return () => {
      if (this.pending.get(fsPath) === p) this.pending.delete(fsPath);
      done();
    };
  }

  /** Waits for a running upload to `fsPath`, if any. */
  async settled(fsPath: string): Promise<void> {
    await this.pending.get(fsPath);
  }

  /** The checksum of the file, hashing it only when no valid entry exists. */
  async adler32(fsPath: string): Promise<string> {
    await this.settled(fsPath);
    // synchronous: a stat is a few microseconds, while the thread pool may be queued behind
    // every other request's file operations during a burst
    const st = statSync(fsPath);
    const known = this.lookup(fsPath, st);
    if (known) return known;
    const running = this.computing.get(fsPath);
    if (running) return running;
    const p = this.hash(fsPath, st).finally(() => this.computing.delete(fsPath));
    this.computing.set(fsPath, p);
    return p;
  }

  private async hash(fsPath: string, first: Stats): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      const before = attempt === 0 ? first : statSync(fsPath);
      if (before.size === 0) {
        // ADLER32 of nothing is 1; no need to open the file (and cause kernel events).
        this.record(fsPath, before, "00000001");
        return "00000001";
      }
      this.hooks.beforeOwnRead?.(fsPath);
      const sum = new Adler32();
      if (before.size <= READ_AT_ONCE_BYTES) sum.update(readFileSync(fsPath));
      else for await (const chunk of createReadStream(fsPath, { highWaterMark: 1 << 20 })) sum.update(chunk as Buffer);
      const after = statSync(fsPath);
      // A file still being written changes under us; hash again rather than record a wrong value.
      if (after.size === before.size && after.mtimeMs === before.mtimeMs && after.ino === before.ino) {
        this.record(fsPath, after, sum.hex());
        return sum.hex();
      }
      if (attempt >= 3) return sum.hex();
    }
  }
}
