// The frame every function runs in (run.ts) and its failure classification (errors.ts), run in-process
// with the storage replaced by handlers that throw what the storage layer throws. The contract (run.ts,
// files.ts, docs/functions.md): one file's failure never sinks the batch — it moves into `failed` with
// step, reason (naming the file) and `permanent`; a file gone or not this step's business is
// `skipped`; only what concerns every file (bad parameters, refused credentials, an unreachable
// service) fails the whole step as `{error, step, transient, paths}`, which stops the sequence.
// Whether a status is worth retrying follows RFC 9110: 408, 429 and 5xx may succeed later.
import { expect } from "chai";
import { ActionError, FileFailure, safeUrl, StepFailure, transientStatus, unreachable } from "../../../../functions/_shared/errors.ts";
import type { FailedFile, FileRecord, Skip, StepRecord } from "../../../../functions/_shared/files.ts";
import { defineAction, SkipFile, type Handler } from "../../../../functions/_shared/run.ts";
import { NotFound } from "../../../../functions/_shared/storage.ts";

const paramsSchema = {
  type: "object",
  properties: { webdavUrl: { type: "string", pattern: "^https?://" }, limit: { type: "integer", minimum: 1 } },
};

/** An action whose per-file step is `perFile` (the stand-in for storage calls), run over ctx.each. */
function action(perFile: (f: FileRecord) => Promise<FileRecord>, limit = 4) {
  const handler: Handler<Record<string, unknown>> = async (_p, ctx) => ({ files: await ctx.each(ctx.files, limit, perFile) });
  return defineAction("checksum", paramsSchema, handler);
}
/** What an action returns: a sequence result, or a whole-step error. */
interface Out {
  files?: FileRecord[];
  skipped?: Skip[];
  failed?: FailedFile[];
  steps: StepRecord[];
  error?: string;
  step?: string;
  transient?: boolean;
  paths?: string[];
}
const files = (...paths: string[]) => paths.map((path) => ({ path }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// actions log to stdout (OpenWhisk collects it); here the lines are kept for the tests to read
let logged: string[] = [];
function captureConsole(): void {
  const consoleLog = console.log;
  beforeEach(() => {
    logged = [];
    console.log = (...args: unknown[]) => void logged.push(args.join(" "));
  });
  afterEach(() => {
    console.log = consoleLog;
  });
}

describe("functions/_shared errors: which failures are worth retrying", () => {
  it("transientStatus: no answer, 408, 429 and 5xx may succeed later; other 4xx will not", () => {
    for (const s of [undefined, 0, 408, 429, 500, 502, 503, 504]) expect(transientStatus(s), String(s)).to.equal(true);
    for (const s of [400, 401, 403, 404, 410, 413, 422]) expect(transientStatus(s), String(s)).to.equal(false);
  });

  it("unreachable: names the service, the URL without credentials, the reason and the parameter to check", () => {
    const refused = unreachable(
      "SciCat",
      "https://ingestor:s3cret@scicat.example.org/api/v3?access_token=t0k3n",
      "scicatUrl",
      Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNREFUSED" } }),
    );
    expect(refused).to.be.instanceOf(StepFailure);
    expect(refused.transient).to.equal(true);
    expect(refused.message).to.equal(
      "cannot reach SciCat at https://scicat.example.org/api/v3 (connection refused); check that it runs and that parameter scicatUrl is right",
    );
    const timeout = unreachable("Rucio", "http://rucio:80", "rucioUrl", Object.assign(new Error("t"), { name: "TimeoutError" }));
    expect(timeout.message).to.match(/no answer before the timeout/);
    const dns = unreachable(
      "Rucio",
      "http://rucio:80",
      "rucioUrl",
      Object.assign(new TypeError("fetch failed"), { cause: { code: "ENOTFOUND" } }),
    );
    expect(dns.message).to.match(/host not found/);
    expect(safeUrl("not a url")).to.equal("<invalid URL>");
  });
});

describe("functions/_shared run: per-file results", () => {
  captureConsole();
  it("a batch where every file goes on returns them in input order, with one `steps` record", async () => {
    // later files finish first: the result still keeps the input order
    const main = action(async (f) => {
      await sleep(f.path === "/d/1.nxs" ? 20 : 1);
      return { ...f, size: 7 };
    });
    const r = (await main({
      files: files("/d/1.nxs", "/d/2.nxs", "/d/3.nxs"),
      steps: [{ function: "earlier", durationMs: 1, outcome: "ok" }],
    })) as unknown as Out;
    expect(r.files!.map((f: FileRecord) => f.path)).to.deep.equal(["/d/1.nxs", "/d/2.nxs", "/d/3.nxs"]);
    expect(r.error).to.equal(undefined);
    expect(r.failed).to.equal(undefined);
    expect(r.skipped).to.deep.equal([]);
    expect(r.steps).to.have.length(2);
    expect(r.steps[1]).to.include({ function: "checksum", outcome: "ok", files: 3 });
  });

  it("one failing file leaves the batch into `failed`: permanent for FileFailure(permanent) and 4xx, transient otherwise", async () => {
    const throwFor: Record<string, Error> = {
      "/d/corrupt.nxs": new FileFailure("ADLER32 mismatch: storage says 0a0b0c0d, the bytes give 01020304", true, undefined, {
        size: 42,
        adler32: "0a0b0c0d",
      }),
      "/d/flaky.nxs": new FileFailure("transfer reset by peer", false),
      "/d/forbidden.nxs": new ActionError(
        "WebDAV GET for /d/forbidden.nxs refused (403); check the file's permissions for this account",
        403,
      ),
      "/d/busy.nxs": new ActionError("SciCat answered 503", 503),
      "/d/bug.nxs": new TypeError("Cannot read properties of undefined (reading 'x')"),
    };
    const main = action(async (f) => {
      const e = throwFor[f.path];
      if (e) throw e;
      return f;
    });
    const input = files("/d/ok-1.nxs", ...Object.keys(throwFor), "/d/ok-2.nxs");
    const r = (await main({ files: input })) as unknown as Out;
    expect(r.error).to.equal(undefined);
    expect(r.files!.map((f: FileRecord) => f.path)).to.deep.equal(["/d/ok-1.nxs", "/d/ok-2.nxs"]);
    const byPath = Object.fromEntries(r.failed!.map((f) => [f.path, f]));
    expect(Object.keys(byPath).sort()).to.deep.equal(Object.keys(throwFor).sort());
    expect(byPath["/d/corrupt.nxs"]).to.deep.include({ step: "checksum", permanent: true, size: 42, adler32: "0a0b0c0d" });
    expect(byPath["/d/flaky.nxs"].permanent).to.equal(false);
    expect(byPath["/d/forbidden.nxs"].permanent).to.equal(true);
    expect(byPath["/d/busy.nxs"].permanent).to.equal(false);
    expect(byPath["/d/bug.nxs"].permanent, "an unexpected fault may pass").to.equal(false);
    // every reason names its file, once
    for (const [path, f] of Object.entries(byPath)) expect((f as { reason: string }).reason.split(path).length - 1, path).to.equal(1);
    expect(r.steps.at(-1)).to.include({ outcome: "ok", files: 7, failed: 5 });
  });

  it("a file gone from storage (NotFound) or not this step's business (SkipFile) is skipped with the reason", async () => {
    const main = action(async (f) => {
      if (f.path === "/d/gone.nxs") throw new NotFound("/d/gone.nxs not found in storage (WebDAV HEAD: 404)", 404);
      if (f.path === "/d/derived/x.png") throw new SkipFile("a derived file");
      return f;
    });
    const r = (await main({ files: files("/d/gone.nxs", "/d/a.nxs", "/d/derived/x.png") })) as unknown as Out;
    expect(r.files!.map((f: FileRecord) => f.path)).to.deep.equal(["/d/a.nxs"]);
    expect(r.skipped).to.deep.equal([
      { path: "/d/gone.nxs", reason: "not found in storage (deleted after the event?)" },
      { path: "/d/derived/x.png", reason: "a derived file" },
    ]);
    expect(r.failed).to.equal(undefined);
  });

  it("files that failed or were skipped in earlier steps are passed on, never processed again", async () => {
    const seen: string[] = [];
    const main = action(async (f) => {
      seen.push(f.path);
      throw new FileFailure("not HDF5", true);
    });
    const earlierFailed = { path: "/d/old.nxs", step: "checksum", reason: "/d/old.nxs: mismatch", permanent: true };
    const r = (await main({
      files: files("/d/new.nxs"),
      failed: [earlierFailed],
      skipped: [{ path: "/d/dir", reason: "a directory" }],
    })) as unknown as Out;
    expect(seen).to.deep.equal(["/d/new.nxs"]);
    expect(r.failed!.map((f: { path: string }) => f.path)).to.deep.equal(["/d/old.nxs", "/d/new.nxs"]);
    expect(r.skipped).to.deep.equal([{ path: "/d/dir", reason: "a directory" }]);
    expect(r.steps.at(-1)!.failed).to.equal(1);
  });

  it("takes the trigger's CloudEvent batch as input, carrying each event into `failed`", async () => {
    const main = action(async () => {
      throw new FileFailure("truncated", true);
    });
    const r = (await main({
      events: [{ id: "ev-1", type: "org.dcache.storage.IN_CLOSE_WRITE", subject: "/d/a.nxs", data: { mask: ["IN_CLOSE_WRITE"] } }],
    })) as unknown as Out;
    expect(r.failed![0]).to.deep.include({ path: "/d/a.nxs", permanent: true });
    expect(r.failed![0]!.event).to.deep.include({ id: "ev-1", type: "org.dcache.storage.IN_CLOSE_WRITE" });
  });

  it("an event the feed enriched gives its record dCache's size, mtime (ISO 8601, from milliseconds) and ADLER32; values of another shape are left out", async () => {
    const seen: FileRecord[] = [];
    const main = action(async (f) => {
      seen.push(f);
      return f;
    });
    const ev = (subject: string, data: Record<string, unknown>) => ({
      id: subject,
      type: "org.dcache.storage.IN_CLOSE_WRITE",
      subject,
      data: { mask: ["IN_CLOSE_WRITE"], ...data },
    });
    await main({
      events: [
        ev("/d/a.nxs", { size: 77136, mtime: 1764633600123, adler32: "0a1b2c3d" }),
        ev("/d/b.nxs", { size: "77136", mtime: "2026-12-02T00:00:00Z", adler32: "0A1B2C3D" }),
        ev("/d/c.nxs", { size: -1, mtime: 1.5, adler32: "0a1b2c" }),
        ev("/d/d.nxs", {}),
      ],
    });
    const facts = seen.map(({ path, size, mtime, adler32 }) => ({ path, size, mtime, adler32 }));
    expect(facts).to.deep.equal([
      { path: "/d/a.nxs", size: 77136, mtime: "2025-12-02T00:00:00.123Z", adler32: "0a1b2c3d" },
      { path: "/d/b.nxs", size: undefined, mtime: undefined, adler32: undefined },
      { path: "/d/c.nxs", size: undefined, mtime: undefined, adler32: undefined },
      { path: "/d/d.nxs", size: undefined, mtime: undefined, adler32: undefined },
    ]);
  });
});

describe("functions/_shared run: the whole step fails", () => {
  captureConsole();
  it("a StepFailure from any file stops the step: {error, step, transient, paths} naming every file", async () => {
    const main = action(async (f) => {
      if (f.path === "/d/2.nxs")
        throw new StepFailure(
          "cannot reach dCache WebDAV at http://dcache:2880/ (connection refused); check that it runs and that parameter webdavUrl is right",
          true,
        );
      return f;
    }, 1);
    const r = (await main({ files: files("/d/1.nxs", "/d/2.nxs", "/d/3.nxs") })) as unknown as Out;
    expect(r).to.deep.include({
      error:
        "cannot reach dCache WebDAV at http://dcache:2880/ (connection refused); check that it runs and that parameter webdavUrl is right",
      step: "checksum",
      transient: true,
      paths: ["/d/1.nxs", "/d/2.nxs", "/d/3.nxs"],
    });
    expect(r.files).to.equal(undefined);
    expect(r.steps.at(-1)).to.include({ function: "checksum", outcome: "error", files: 3 });
  });

  it("refused credentials fail the step as not transient", async () => {
    const refused = action(async () => {
      throw new StepFailure("WebDAV GET for /d/a refused (401); check dcacheUser/dcachePassword or dcacheToken", false, 401);
    });
    expect(await refused({ files: files("/d/a") })).to.deep.include({ step: "checksum", transient: false, paths: ["/d/a"] });
  });

  it("bad parameters fail the step as not transient, naming the parameter and never its value", async () => {
    const main = action(async (f) => f);
    const r = (await main({ files: files("/d/a"), webdavUrl: "ftp://user:hunter2@dcache" })) as unknown as Out;
    expect(r.transient).to.equal(false);
    expect(r.step).to.equal("checksum");
    expect(r.error).to.match(/^invalid parameters for checksum: webdavUrl must match pattern/);
    expect(JSON.stringify(r)).to.not.include("hunter2");
    expect(logged.join("\n")).to.not.include("hunter2");
  });

  it("a step-wide ActionError is transient exactly when its status is; an unexpected fault is transient", async () => {
    const throwing = (e: unknown) =>
      defineAction("catalogue", paramsSchema, async () => {
        throw e;
      });
    expect(await throwing(new ActionError("SciCat answered 503", 503))({ files: files("/d/a") })).to.deep.include({
      error: "SciCat answered 503",
      transient: true,
    });
    expect(
      await throwing(new ActionError("SciCat refused the login (401); check scicatPassword", 401))({ files: files("/d/a") }),
    ).to.deep.include({ transient: false });
    const fault = (await throwing(new RangeError("Maximum call stack size exceeded"))({ files: files("/d/a") })) as unknown as Out;
    expect(fault).to.deep.include({ error: "catalogue failed: Maximum call stack size exceeded", transient: true, paths: ["/d/a"] });
  });

  it("files that left the batch before the failure still say why", async () => {
    const main = action(async (f) => {
      if (f.path === "/d/bad.nxs") throw new FileFailure("not HDF5", true);
      throw new StepFailure("cannot reach SciCat", true);
    }, 1);
    const r = (await main({
      files: files("/d/bad.nxs", "/d/ok.nxs"),
      skipped: [{ path: "/d/dir", reason: "a directory" }],
    })) as unknown as Out;
    expect(r.error).to.equal("cannot reach SciCat");
    expect(r.failed!.map((f: { path: string }) => f.path)).to.deep.equal(["/d/bad.nxs"]);
    expect(r.skipped).to.deep.equal([{ path: "/d/dir", reason: "a directory" }]);
  });
});

describe("functions/_shared run: concurrent activations in one process (limits.concurrency)", () => {
  it("each run's step record names its own activation, though the runtime set another's meanwhile", async () => {
    // OpenWhisk's Node.js runtime sets process.env.__OW_* as each run starts; a second run starting
    // while the first waits overwrites them
    const release: Array<() => void> = [];
    const action = defineAction("catalogue", paramsSchema, async (_p, ctx) => {
      await new Promise<void>((r) => release.push(r));
      return { files: ctx.files };
    });
    const env = (id: string) =>
      Object.assign(process.env, {
        __OW_ACTIVATION_ID: id,
        __OW_ACTION_NAME: `/guest/${id}-action`,
        __OW_DEADLINE: String(Date.now() + 60_000),
      });
    const saved = { ...process.env };
    try {
      env("a1");
      const first = action({ path: "/d/one.nxs" });
      env("a2");
      const second = action({ path: "/d/two.nxs" });
      while (release.length < 2) await new Promise((r) => setTimeout(r, 1));
      for (const r of release) r();
      const [one, two] = (await Promise.all([first, second])) as Array<{ steps: StepRecord[] }>;
      expect(one.steps.at(-1)).to.include({ activationId: "a1", action: "/guest/a1-action" });
      expect(two.steps.at(-1)).to.include({ activationId: "a2", action: "/guest/a2-action" });
    } finally {
      for (const k of ["__OW_ACTIVATION_ID", "__OW_ACTION_NAME", "__OW_DEADLINE"]) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  });
});
