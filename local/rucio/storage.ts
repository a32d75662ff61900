// Where each RSE of the local Rucio keeps its bytes: a folder, and the PFN prefix under which a
// replica there is named (the buffer: dCache's WebDAV door over the folder dCache serves; others:
// file:// URLs of their folders). A PFN maps back to a file only below its RSE's prefix, and the
// file must stay inside the RSE's folder, so a bad PFN can never make the daemons touch other files.
import { resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";

export interface RseStorage {
  /** the folder that holds the RSE's bytes */
  dir: string;
  /** prefix of the RSE's PFNs (no trailing slash) */
  pfn: string;
}

export class RseStorages {
  private readonly byRse = new Map<string, RseStorage>();

  constructor(storages: Record<string, { dir: string; pfn?: string }>) {
    for (const [rse, s] of Object.entries(storages)) {
      const dir = resolve(s.dir);
      this.byRse.set(rse, { dir, pfn: (s.pfn ?? pathToFileURL(dir).href).replace(/\/+$/, "") });
    }
  }

  of(rse: string): RseStorage | undefined {
    return this.byRse.get(rse);
  }

  /**
   * The PFN a new replica gets at `rse` (Rucio's deterministic lfn2pfn, here "identity": the DID
   * name below the RSE's prefix, names being storage paths; other scopes than the first get a
   * folder of their own so that names cannot collide).
   */
  pfnFor(rse: string, scope: string, name: string, defaultScope: string): string {
    const s = this.byRse.get(rse);
    if (!s) throw new Error(`RSE ${rse} has no storage`);
    const rel = name.replace(/^\/*/, "/");
    return s.pfn + (scope === defaultScope ? "" : `/${encodeURIComponent(scope)}`) + rel.split("/").map(encodeURIComponent).join("/");
  }

  /** The file behind `pfn` at `rse`, or undefined when the PFN is not one of the RSE's. */
  pathOf(rse: string, pfn: string): string | undefined {
    const s = this.byRse.get(rse);
    if (!s || !pfn.startsWith(`${s.pfn}/`)) return undefined;
    let rel: string;
    try {
      rel = pfn.slice(s.pfn.length).split("/").map(decodeURIComponent).join("/");
    } catch {
      return undefined;
    }
    const file = resolve(s.dir, `.${rel}`);
    return file.startsWith(s.dir + sep) ? file : undefined;
  }
}
