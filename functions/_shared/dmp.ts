// The machine-actionable data management plan (DMP) that covers a file: `dmp.json` in the file's
// folder or the nearest folder above it (a beamtime puts one at its top), else the facility's plan
// (the `dmp` parameter). It says which pipelines must succeed before the file is archived, where the
// archive copies go and how many, how long copies are kept, the embargo, and who owns the data.
// Schema and examples: docs/lifecycle.md. A DMP that is not valid JSON or breaks the schema fails
// the files it covers, permanently and with the reason: never a silent fallback to another plan.
import { createHash } from "node:crypto";
import { FileFailure, StepFailure } from "./errors.ts";
import { validator } from "./schema.ts";
import { NotFound, type Storage } from "./storage.ts";

export const DMP_FILE = "dmp.json";
/** a DMP is a small document: anything larger is refused rather than read into memory */
const MAX_BYTES = 64 * 1024;

export interface Dmp {
  version: 1;
  /** a name people know the plan by, e.g. the proposal or beamtime */
  id: string;
  owner: { ownerGroup: string; owner?: string; contactEmail?: string; principalInvestigator?: string; accessGroups?: string[] };
  /** pipelines (rule actions of the trigger, by name) that must succeed before the file is archived */
  pipelines?: string[];
  archive: { rseExpression: string; copies?: number; lifetimeDays?: number; activity?: string };
  buffer?: { keepDaysAfterArchive?: number };
  /** until this date the catalogue entry stays unpublished */
  embargoUntil?: string;
}

export const dmpSchema = {
  type: "object",
  required: ["version", "id", "owner", "archive"],
  additionalProperties: false,
  properties: {
    $schema: { type: "string" },
    version: { const: 1, description: "the DMP format version: 1" },
    id: { type: "string", minLength: 1, maxLength: 200 },
    owner: {
      type: "object",
      required: ["ownerGroup"],
      additionalProperties: false,
      properties: {
        ownerGroup: { type: "string", minLength: 1 },
        owner: { type: "string", minLength: 1 },
        contactEmail: { type: "string", pattern: "^[^@\\s]+@[^@\\s]+$" },
        principalInvestigator: { type: "string", minLength: 1 },
        accessGroups: { type: "array", items: { type: "string", minLength: 1 } },
      },
    },
    pipelines: { type: "array", items: { type: "string", pattern: "^[A-Za-z0-9_.-]+$" }, uniqueItems: true },
    archive: {
      type: "object",
      required: ["rseExpression"],
      additionalProperties: false,
      properties: {
        rseExpression: { type: "string", minLength: 1, maxLength: 500 },
        copies: { type: "integer", minimum: 1, maximum: 10 },
        lifetimeDays: { type: "number", exclusiveMinimum: 0 },
        activity: { type: "string", minLength: 1 },
      },
    },
    buffer: {
      type: "object",
      additionalProperties: false,
      properties: { keepDaysAfterArchive: { type: "number", minimum: 0 } },
    },
    embargoUntil: { type: "string", format: "date" },
  },
} as const;

const checkDmp = validator<Dmp>(dmpSchema, "DMP");

/** The plan that applies to a file, and where it came from (recorded in the catalogue). */
export interface AppliedDmp {
  dmp: Dmp;
  /** the dmp.json's path, or "parameter dmp" for the facility's plan */
  source: string;
  /** SHA-256 of the plan's bytes (of its JSON for the parameter): which version applied */
  sha256: string;
}

/** Validates the facility's plan given as a parameter: a bad one concerns every file. */
export function parameterDmp(value: unknown): AppliedDmp | undefined {
  if (value === undefined) return undefined;
  try {
    const dmp = checkDmp(value);
    return { dmp, source: "parameter dmp", sha256: createHash("sha256").update(JSON.stringify(value)).digest("hex") };
  } catch (e) {
    throw new StepFailure(
      `parameter dmp (the facility's data management plan) is not valid: ${(e as Error).message.replace(/^invalid DMP: /, "")}; see docs/lifecycle.md`,
      false,
    );
  }
}

/** Finds and reads the DMP of each file's folder, once per folder within one activation. */
export class DmpFinder {
  private readonly byDir = new Map<string, Promise<AppliedDmp | FileFailure | undefined>>();

  /** without `storage` (no WebDAV door given) only the facility's plan applies */
  constructor(
    private readonly storage: Storage | undefined,
    private readonly fallback: AppliedDmp | undefined,
  ) {}

  /** The plan covering `path`; a bad or missing plan throws a permanent FileFailure. */
  async forFile(path: string): Promise<AppliedDmp> {
    const found = await this.find(path);
    if (found) return found;
    throw new FileFailure(
      `${path}: no data management plan covers this file: put a ${DMP_FILE} in its folder or a folder above it, or give the facility's plan as parameter dmp (docs/lifecycle.md)`,
      true,
    );
  }

  /** The plan covering `path`, undefined when none does; a bad plan throws a permanent FileFailure. */
  async find(path: string): Promise<AppliedDmp | undefined> {
    const found = this.storage ? await this.inDir(path.slice(0, path.lastIndexOf("/")) || "/") : undefined;
    if (found instanceof FileFailure) throw new FileFailure(`${path}: ${found.message}`, true);
    return found ?? this.fallback;
  }

  private inDir(dir: string): Promise<AppliedDmp | FileFailure | undefined> {
    let p = this.byDir.get(dir);
    if (!p) {
      p = this.read(dir);
      this.byDir.set(dir, p);
    }
    return p;
  }

  private async read(dir: string): Promise<AppliedDmp | FileFailure | undefined> {
    const file = `${dir === "/" ? "" : dir}/${DMP_FILE}`;
    let bytes: Buffer;
    try {
      bytes = await this.fetch(file);
    } catch (e) {
      if (e instanceof FileFailure) return e;
      if (!(e instanceof NotFound)) throw e;
      return dir === "/" ? undefined : this.inDir(dir.slice(0, dir.lastIndexOf("/")) || "/");
    }
    const fix = `fix ${file}, then retry its files (npm run files -- retry --prefix ${dir === "/" ? "/" : `${dir}/`})`;
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString("utf8"));
    } catch (e) {
      return new FileFailure(`its data management plan ${file} is not valid JSON (${(e as Error).message}); ${fix}`, true);
    }
    try {
      return { dmp: checkDmp(json), source: file, sha256: createHash("sha256").update(bytes).digest("hex") };
    } catch (e) {
      return new FileFailure(
        `its data management plan ${file} is not valid: ${(e as Error).message.replace(/^invalid DMP: /, "")}; ${fix} (schema: docs/lifecycle.md)`,
        true,
      );
    }
  }

  private async fetch(file: string): Promise<Buffer> {
    const { body, size } = await this.storage!.open(file);
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of body) {
      n += c.length;
      if (n > MAX_BYTES || (size ?? 0) > MAX_BYTES) {
        throw new FileFailure(
          `its data management plan ${file} is larger than ${MAX_BYTES} bytes, too large for a DMP; make it smaller`,
          true,
        );
      }
      chunks.push(Buffer.from(c));
    }
    return Buffer.concat(chunks);
  }
}

/** Whether `action` (as OpenWhisk names a rule's action: "ns/facility-dev-ingest", "ns/facility/derive") is pipeline `name`. */
export function isPipeline(action: string, name: string): boolean {
  const last = action.slice(action.lastIndexOf("/") + 1);
  return last === name || last.endsWith(`-${name}`);
}
