// Maps dCache paths (as they appear in request URLs) onto the served directory, and refuses every way
// out of it: `..` segments, percent-encoded slashes or dots, NUL bytes, symbolic links that lead
// outside the root, and paths outside the user's home.
import { lstatSync, realpathSync, type Stats } from "node:fs";
import { realpath } from "node:fs/promises";
import { join, sep, dirname } from "node:path";
import { HttpError } from "../../lib/http/server.ts";

export class PathError extends HttpError {
  constructor(status: 400 | 403, message: string) {
    super(status, message);
  }
}

export interface ResolvedPath {
  /** the dCache path: absolute, normalised, no trailing slash except for "/" */
  path: string;
  /** the corresponding path on the local file system (inside the root) */
  fsPath: string;
}

/** Splits a raw (still percent-encoded) URL path into decoded segments, rejecting traversal. */
export function decodeSegments(rawPath: string): string[] {
  const segments: string[] = [];
  for (const raw of rawPath.split("/")) {
    if (raw === "") continue;
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      throw new PathError(400, `path segment "${raw}" is not valid percent-encoding; encode the path as UTF-8 percent-encoded segments`);
    }
    if (seg === "." || seg === "..")
      throw new PathError(400, `path segment "${seg}" is not allowed: use absolute paths without "." or ".." segments`);
    if (seg.includes("/") || seg.includes("\\") || seg.includes("\0")) {
      throw new PathError(400, `path segment "${raw}" contains an encoded "/", "\\" or NUL byte; these are not allowed in names`);
    }
    segments.push(seg);
  }
  return segments;
}

/** Validates a dCache path given in plain text (e.g. a selector's `path` or a WebDAV Destination). */
export function segmentsOfPlainPath(path: string): string[] {
  if (!path.startsWith("/")) throw new PathError(400, `path "${path}" is not absolute; dCache paths start with "/"`);
  const segments = path.split("/").filter((s) => s !== "");
  for (const s of segments) {
    if (s === "." || s === "..") throw new PathError(400, `path "${path}" contains "${s}"; use a normalised absolute path`);
    if (s.includes("\0")) throw new PathError(400, `path contains a NUL byte`);
  }
  return segments;
}

export function isWithin(path: string, ancestor: string): boolean {
  return ancestor === "/" ? path.startsWith("/") : path === ancestor || path.startsWith(`${ancestor}/`);
}

export class StorageRoot {
  private constructor(readonly fsRoot: string) {}

  /** `dir` must exist; it is resolved through symbolic links once, so that inotify paths match. */
  static async open(dir: string): Promise<StorageRoot> {
    return new StorageRoot(await realpath(dir));
  }

  /** The dCache path of a local path inside the root (the inverse of `resolve`). */
  dcachePathOf(fsPath: string): string {
    if (fsPath === this.fsRoot) return "/";
    return fsPath.slice(this.fsRoot.length).split(sep).join("/");
  }

  /**
   * Resolves segments for `home` (the user's home directory as a dCache path). The deepest existing
   * ancestor (the entry itself when it exists) must resolve, through symbolic links, inside the root.
   */
  async resolve(segments: string[], home: string): Promise<ResolvedPath> {
    const path = `/${segments.join("/")}`;
    if (!isWithin(path, home)) throw new PathError(403, `permission denied: ${path} is outside your home directory ${home}`);
    const fsPath = segments.length === 0 ? this.fsRoot : join(this.fsRoot, ...segments);
    await this.assertInside(fsPath);
    return { path, fsPath };
  }

  // Synchronous on purpose: each call is a few microseconds of system calls on a local disk, while
  // the thread pool behind the asynchronous ones queues them behind every other request's reads
  // during a burst (seconds per request under load).
  private async assertInside(fsPath: string): Promise<void> {
    let probe = fsPath;
    for (;;) {
      let real: string;
      try {
        real = realpathSync.native(probe);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if ((code === "ENOENT" || code === "ENOTDIR") && probe !== this.fsRoot) {
          // A dangling symbolic link must not let a later create escape: its target may be outside.
          if (lstatOrUndefined(probe)) {
            throw new PathError(403, `permission denied: the path goes through a symbolic link that points nowhere`);
          }
          probe = dirname(probe);
          continue;
        }
        if (code === "ELOOP") throw new PathError(403, `permission denied: too many levels of symbolic links`);
        throw e;
      }
      if (real !== this.fsRoot && !real.startsWith(this.fsRoot + sep)) {
        throw new PathError(403, `permission denied: the path leads outside the storage root through a symbolic link`);
      }
      return;
    }
  }
}

/** The entry itself (symbolic links not followed), or undefined when there is none to see. */
export function lstatOrUndefined(fsPath: string): Stats | undefined {
  try {
    return lstatSync(fsPath);
  } catch {
    return undefined;
  }
}
