// catalogue: registers each file as a SciCat raw dataset (ESS's NeXus mapping) with an
// origdatablock holding its size and ADLER32. The pid is derived from the file's path, so a
// replayed event updates the dataset instead of creating a duplicate. dCache files are
// write-once: a file whose size or ADLER32 differs from what its origdatablock says fails as
// "changed after registration" unless `reprocessChanged` is set, so catalogue and replica
// catalogue never silently disagree. The data management plan covering the file (docs/lifecycle.md)
// gives the owner fields and the embargo, and the dataset records which plan applied
// (scientificMetadata.dataManagementPlan); a bad plan fails the file.
import { DmpFinder, parameterDmp, type AppliedDmp } from "../_shared/dmp.ts";
import { ActionError, FileFailure } from "../_shared/errors.ts";
import type { FileRecord, StepRecord } from "../_shared/files.ts";
import { uuidV5 } from "../_shared/pid.ts";
import { defineAction } from "../_shared/run.ts";
import { validator } from "../_shared/schema.ts";
import { datasetFor, derivedSource, origDatablockFor, type DatasetDefaults } from "./mapping.ts";
import { catalogueResultSchema, paramsSchema } from "./schema.ts";
import { ScicatClient, type ScicatParams } from "./scicat-client.ts";
import { Storage, type StorageParams } from "../_shared/storage.ts";

type Params = ScicatParams &
  DatasetDefaults &
  StorageParams & { dmp?: unknown } & {
    pidPrefix?: string;
    derivedDir?: string;
    concurrency?: number;
    reprocessChanged?: boolean;
  } & Record<string, unknown>;

type Block = { id?: string; _id?: string; size?: number; dataFileList?: Array<{ path: string; chk?: string; size?: number }> };

const checkResult = validator(catalogueResultSchema, "catalogue result");
const REQUIRED_FIELDS = ["owner", "contactEmail", "principalInvestigator", "creationLocation"] as const;
const REQUIRED_DERIVED = ["owner", "contactEmail", "investigator"] as const;

function failed(what: string, file: string, status: number, json: unknown): ActionError {
  const detail = typeof json === "string" ? json : JSON.stringify((json as { message?: unknown })?.message ?? json ?? "");
  const hint =
    status >= 500
      ? "; SciCat has a problem, retry later"
      : status === 400
        ? "; fix the dataset fields named above (parameters or file metadata)"
        : "";
  return new ActionError(`SciCat ${what} for ${file} failed: HTTP ${status} ${detail.slice(0, 400)}${hint}`, status);
}

/** What the plan says of the dataset: owner fields win over parameters and file; the plan is recorded. */
function applyPlan(dataset: Record<string, unknown>, plan: AppliedDmp): void {
  const { ownerGroup, owner, contactEmail, principalInvestigator, accessGroups } = plan.dmp.owner;
  Object.assign(
    dataset,
    { ownerGroup },
    owner ? { owner } : {},
    contactEmail ? { contactEmail } : {},
    accessGroups ? { accessGroups } : {},
  );
  if (principalInvestigator) dataset[dataset.type === "derived" ? "investigator" : "principalInvestigator"] = principalInvestigator;
  const embargoed = plan.dmp.embargoUntil !== undefined && Date.parse(plan.dmp.embargoUntil) > Date.now();
  if (embargoed) dataset.isPublished = false;
  const sci = (dataset.scientificMetadata ?? {}) as Record<string, unknown>;
  sci.dataManagementPlan = {
    id: plan.dmp.id,
    source: plan.source,
    sha256: plan.sha256,
    ...(plan.dmp.embargoUntil ? { embargoUntil: plan.dmp.embargoUntil } : {}),
  };
  dataset.scientificMetadata = sci;
}

async function register(client: ScicatClient, dmps: DmpFinder, file: FileRecord, p: Params): Promise<NonNullable<FileRecord["catalogue"]>> {
  const plan = await dmps.find(file.path);
  const pidOf = (path: string) => `${p.pidPrefix ?? "dcache"}/${uuidV5(path)}`;
  const pid = pidOf(file.path);
  // A file derive wrote is catalogued as a derived dataset whose input is its source file's dataset.
  const source = derivedSource(file.path, p.derivedDir);
  const steps = Array.isArray((p as { steps?: unknown }).steps) ? (p as unknown as { steps: StepRecord[] }).steps : [];
  const dataset = datasetFor(
    file,
    pid,
    { ...p, owner: p.owner ?? p.scicatUsername ?? p.ownerGroup },
    source ? pidOf(source) : undefined,
    steps,
  );
  if (plan) applyPlan(dataset, plan);
  const missing = (source ? REQUIRED_DERIVED : REQUIRED_FIELDS).filter((k) => dataset[k] === undefined);
  if (missing.length) {
    throw new FileFailure(
      `${file.path}: SciCat needs ${missing.map((k) => (k === "investigator" ? "principalInvestigator" : k)).join(", ")} and neither the parameters nor the file's metadata give them; set them as parameters of the catalogue action`,
      true,
    );
  }
  const enc = encodeURIComponent(pid);
  const found = await client.call("GET", `/datasets/${enc}`);
  // SciCat answers an unknown pid with 404 or, in some versions, 200 and an empty body.
  const exists = found.status === 200 && !!found.json && typeof found.json === "object" && (found.json as { pid?: string }).pid === pid;
  if (found.status !== 200 && found.status !== 404) throw failed("dataset lookup", file.path, found.status, found.json);
  // One origdatablock per file. Read it before touching the dataset: a changed file must not
  // update the catalogue half-way.
  const block = origDatablockFor(file);
  const mine = (block.dataFileList as Array<{ path: string; chk?: string; size: number }>)[0]!;
  let same: Block | undefined;
  if (exists) {
    const list = await client.call("GET", `/datasets/${enc}/origdatablocks`);
    if (list.status !== 200) throw failed("origdatablock lookup", file.path, list.status, list.json);
    const blocks = Array.isArray(list.json) ? (list.json as Block[]) : [];
    same = blocks.find((b) => b.dataFileList?.some((f) => f.path === mine.path));
    const old = same?.dataFileList?.find((f) => f.path === mine.path);
    if (old && (old.chk !== mine.chk || old.size !== mine.size) && !p.reprocessChanged) {
      throw new FileFailure(
        `${file.path}: changed after registration: SciCat dataset ${pid} has size ${old.size} ADLER32 ${old.chk ?? "none"}, the file now has size ${mine.size} ADLER32 ${mine.chk ?? "none"}; dCache files are write-once, so this is kept as a failure (set reprocessChanged on the pipeline's functions to catalogue new content)`,
        true,
      );
    }
  }
  let action: "created" | "updated" = "updated";
  if (!exists) {
    const created = await client.call("POST", "/datasets", dataset);
    if (created.status === 201 || created.status === 200) action = "created";
    else if (created.status !== 409) throw failed("dataset creation", file.path, created.status, created.json);
    // 409: created meanwhile by a concurrent run of the same event; update it below.
  }
  if (action === "updated") {
    const { pid: _pid, ...patch } = dataset;
    const updated = await client.call("PATCH", `/datasets/${enc}`, patch);
    if (updated.status !== 200) throw failed("dataset update", file.path, updated.status, updated.json);
  }
  if (!same) {
    const r = await client.call("POST", `/datasets/${enc}/origdatablocks`, block);
    if (r.status !== 201 && r.status !== 200) throw failed("origdatablock creation", file.path, r.status, r.json);
  } else {
    const old = same.dataFileList!.find((f) => f.path === mine.path)!;
    if (old.chk !== mine.chk || old.size !== mine.size) {
      const r = await client.call("PATCH", `/origdatablocks/${encodeURIComponent(same.id ?? same._id ?? "")}`, block);
      if (r.status !== 200) throw failed("origdatablock update", file.path, r.status, r.json);
    }
  }
  return {
    pid,
    datasetName: String(dataset.datasetName),
    action,
    origDatablocks: 1,
    type: dataset.type as "raw" | "derived",
    ...(plan ? { dmp: plan.source } : {}),
  };
}

export const main = defineAction<Params>("catalogue", paramsSchema, async (p, ctx) => {
  const client = new ScicatClient(p);
  const dmps = new DmpFinder(p.webdavUrl ? new Storage(p) : undefined, parameterDmp(p.dmp));
  const register1 = async (file: FileRecord): Promise<FileRecord> => ({ ...file, catalogue: await register(client, dmps, file, p) });
  // The first call logs in; the rest of the batch then shares the token.
  const [head, ...rest] = ctx.files;
  const files = head ? await ctx.each([head], 1, register1) : [];
  files.push(...(await ctx.each(rest, p.concurrency ?? 8, register1)));
  const out = { files };
  checkResult(out);
  return out;
});
