// npm run files -- status | failed | list | retry …
// What became of every arriving file, from the feed provider's file ledger, and retrying the ones
// that failed. Works against the local stack (reads its endpoints and credentials from the state
// folder, .local by default) and against a production provider (--provider, --auth, --owner-key).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

const USAGE = `usage: npm run files -- <command> [options]
commands:
  status                     files per state for each trigger (or --trigger)
  failed                     failed files with the step and the reason (--prefix, --limit)
  list                       files of one --state (pending|fired|retrying|succeeded|skipped|failed), or all
  retry PATH…                run failed files again; or --prefix P, or --all (every failed file)
  reconcile                  run the rules that were inactive when files fired, for those files (enable the
                             rules first); without --prefix also list the watched tree and fire the files
                             the ledger has no outcome for
options:
  --trigger /NS/NAME         one trigger (default: every registration the provider has)
  --prefix P                 only paths starting with P
  --state S                  with list
  --limit N                  most files to show (default 100)
  --json                     print JSON instead of a table
  --provider URL             feed provider (env PROVIDER_URL; default: the local stack's)
  --auth USER:PASSWORD       the provider's credentials (env PROVIDER_AUTH; default: the local stack's)
  --owner-key UUID:KEY       the triggers' owner key for status (env OW_AUTH; default: the local stack's)
  --state-dir DIR            the local stack's state folder (default .local)`;

interface Conn {
  url: string;
  auth: string;
  ownerKey?: string;
}

const readIf = (p: string) => (existsSync(p) ? readFileSync(p, "utf8") : undefined);

function connection(v: Record<string, string | boolean | undefined>): Conn {
  const dir = (v["state-dir"] as string | undefined) ?? ".local";
  const endpoints = readIf(join(dir, "endpoints.json"));
  const url =
    (v.provider as string | undefined) ??
    (process.env.PROVIDER_URL || undefined) ??
    (endpoints ? (JSON.parse(endpoints) as { PROVIDER_URL?: string }).PROVIDER_URL : undefined);
  const auth = (v.auth as string | undefined) ?? (process.env.PROVIDER_AUTH || undefined) ?? readIf(join(dir, "provider-auth"))?.trim();
  const ownerKey =
    (v["owner-key"] as string | undefined) ??
    (process.env.OW_AUTH || undefined) ??
    /^AUTH=(.*)$/m.exec(readIf(join(dir, "openwhisk", "wskprops")) ?? "")?.[1]?.trim();
  if (!url)
    throw new Error(
      `no feed provider: give --provider URL (or PROVIDER_URL), or run \`npm start\` so that ${join(dir, "endpoints.json")} exists`,
    );
  if (!auth)
    throw new Error(
      `no provider credentials: give --auth USER:PASSWORD (or PROVIDER_AUTH); the local stack keeps them in ${join(dir, "provider-auth")}`,
    );
  return { url: url.replace(/\/+$/, ""), auth, ...(ownerKey ? { ownerKey } : {}) };
}

async function api<T>(c: Conn, method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${c.url}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Basic ${Buffer.from(c.auth).toString("base64")}`,
        ...(c.ownerKey ? { "x-owner-key": c.ownerKey } : {}),
        ...(body ? { "content-type": "application/json" } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(30_000),
    });
  } catch (e) {
    const cause = (e as Error & { cause?: { code?: string; message?: string; errors?: Array<{ code?: string }> } }).cause;
    const why = cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message ?? (e as Error).message;
    throw new Error(`cannot reach the feed provider at ${c.url} (${why}); is it running? (--provider, PROVIDER_URL)`);
  }
  const json = (await res.json().catch(() => ({}))) as T & { error?: string };
  if (!res.ok) throw new Error(`the provider answered ${res.status}: ${json.error ?? res.statusText}`);
  return json;
}

const seg = (trigger: string) => {
  const m = /^\/?([^/]+)\/([^/]+)$/.exec(trigger);
  if (!m) throw new Error(`--trigger must look like /namespace/name, got "${trigger}"`);
  return `${encodeURIComponent(m[1]!)}/${encodeURIComponent(m[2]!)}`;
};

async function triggers(c: Conn, one: string | undefined): Promise<string[]> {
  if (one) return [one];
  const list = await api<{ registrations: Array<{ trigger: string }> }>(c, "GET", "/registrations");
  if (list.registrations.length === 0) throw new Error("the provider has no feed registration yet (deploy a trigger with a feed first)");
  return list.registrations.map((r) => r.trigger);
}

type FileView = { path: string; state: string; step?: string; reason?: string; permanent?: boolean; updated?: string; nextRetry?: string };

async function files(c: Conn, trigger: string, q: URLSearchParams, limit: number): Promise<FileView[]> {
  const out: FileView[] = [];
  let after: string | null = null;
  do {
    const p = new URLSearchParams(q);
    p.set("limit", String(Math.min(1000, limit - out.length)));
    if (after) p.set("after", after);
    const page: { files: FileView[]; next: string | null } = await api(c, "GET", `/registrations/${seg(trigger)}/files?${p}`);
    out.push(...page.files);
    after = page.next;
  } while (after && out.length < limit);
  return out;
}

async function main(): Promise<void> {
  const { values: v, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      trigger: { type: "string" },
      prefix: { type: "string" },
      state: { type: "string" },
      limit: { type: "string" },
      all: { type: "boolean" },
      json: { type: "boolean" },
      provider: { type: "string" },
      auth: { type: "string" },
      "owner-key": { type: "string" },
      "state-dir": { type: "string" },
      help: { type: "boolean" },
    },
  });
  const [command, ...paths] = positionals;
  if (v.help || !command) return void console.log(USAGE);
  const limit = v.limit === undefined ? 100 : Number(v.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`--limit must be a positive whole number, got "${v.limit}"`);
  const c = connection(v);
  const print = (rows: unknown) => console.log(JSON.stringify(rows, null, 2));
  if (command === "status") {
    const rows = [];
    for (const t of await triggers(c, v.trigger)) {
      if (!c.ownerKey) throw new Error("status reads each registration with its owner's key: give --owner-key (or OW_AUTH)");
      const r = await api<{ files: Record<string, number>; delivery: { pending: number; deadLettered: number } }>(
        c,
        "GET",
        `/registrations/${seg(t)}`,
      );
      rows.push({ trigger: t, ...r.files, outbox: r.delivery.pending, deadLetters: r.delivery.deadLettered });
    }
    if (v.json) return print(rows);
    console.table(rows);
    return;
  }
  if (command === "failed" || command === "list") {
    const q = new URLSearchParams();
    const state = command === "failed" ? "failed" : v.state;
    if (state) q.set("state", state);
    if (v.prefix) q.set("prefix", v.prefix);
    const all: Array<FileView & { trigger: string }> = [];
    for (const t of await triggers(c, v.trigger)) all.push(...(await files(c, t, q, limit)).map((f) => ({ trigger: t, ...f })));
    if (v.json) return print(all);
    if (all.length === 0) return void console.log(command === "failed" ? "no failed files" : "no files");
    for (const f of all) {
      const why = f.reason
        ? `  ${f.step ?? "?"}${f.permanent ? " (permanent)" : f.permanent === false ? " (transient)" : ""}: ${f.reason}`
        : "";
      console.log(`${f.state.padEnd(9)} ${f.trigger}  ${f.path}${why}${f.nextRetry ? `  next retry ${f.nextRetry}` : ""}`);
    }
    return;
  }
  if (command === "retry") {
    if (!paths.length && !v.prefix && !v.all) throw new Error("say which failed files to retry: paths, --prefix P, or --all");
    const body = paths.length ? { paths } : v.prefix ? { prefix: v.prefix } : {};
    let total = 0;
    for (const t of await triggers(c, v.trigger)) {
      const r = await api<{ retried: number }>(c, "POST", `/registrations/${seg(t)}/files/retry`, body);
      total += r.retried;
      if (r.retried) console.log(`${t}: ${r.retried} file(s) retried`);
    }
    if (total === 0) console.log("no failed file matched");
    return;
  }
  if (command === "reconcile") {
    let total = 0;
    for (const t of await triggers(c, v.trigger)) {
      const r = await api<{ reconciled: number; listed: number | null }>(
        c,
        "POST",
        `/registrations/${seg(t)}/files/reconcile`,
        v.prefix ? { prefix: v.prefix } : {},
      );
      total += r.reconciled;
      if (r.reconciled) console.log(`${t}: ${r.reconciled} file(s) run by the rules they missed`);
      if (r.listed !== null) console.log(`${t}: ${r.listed} file(s) listed in the watched tree; those without an outcome fire`);
    }
    if (total === 0) console.log("no file missed a rule");
    return;
  }
  throw new Error(`unknown command "${command}"`);
}

main().catch((e: Error) => {
  process.stderr.write(`npm run files: ${e.message}\n\n${USAGE}\n`);
  process.exit(1);
});
