// The feed action (`dcache/events`): OpenWhisk invokes it with the feed lifecycle (CREATE, READ,
// UPDATE, DELETE, PAUSE, UNPAUSE) when a trigger with this feed is created, read, updated, deleted,
// paused or resumed. It checks the parameters and forwards the call to the feed provider's HTTP API.
// `providerUrl` and `providerAuth` are package parameters annotated `final`, so users can neither
// see nor override them.
import { Ajv } from "ajv";
import { checkFeedConfig, pickFeedConfig } from "../common/feed-params.ts";

const LIFECYCLE = ["CREATE", "READ", "UPDATE", "DELETE", "PAUSE", "UNPAUSE"] as const;
type Lifecycle = (typeof LIFECYCLE)[number];

export interface FeedActionParams {
  lifecycleEvent: Lifecycle;
  triggerName: string;
  authKey: string;
  providerUrl: string;
  providerAuth: string;
  [feedParam: string]: unknown;
}

const ajv = new Ajv({ allErrors: true, strict: false });
const checkLifecycle = ajv.compile({
  type: "object",
  required: ["lifecycleEvent", "triggerName", "authKey", "providerUrl", "providerAuth"],
  properties: {
    lifecycleEvent: { enum: LIFECYCLE },
    triggerName: { type: "string", pattern: "^/?[^/\\s]+/[^/\\s]+$" },
    authKey: { type: "string", pattern: "^[^:\\s]+:\\S+$" },
    providerUrl: { type: "string", pattern: "^https?://" },
    providerAuth: { type: "string", pattern: "^[^:\\s]+:\\S+$" },
  },
});

const WHAT: Record<string, string> = {
  lifecycleEvent: `one of ${LIFECYCLE.join(", ")}`,
  triggerName: "/namespace/trigger (OpenWhisk sends it)",
  authKey: "the trigger owner's key uuid:key (OpenWhisk sends it)",
  providerUrl: "the feed provider's URL, a package parameter of the feed's package",
  providerAuth: "the feed provider's USER:PASSWORD, a package parameter of the feed's package",
};

function lifecycleError(): string {
  const names = new Set<string>();
  for (const e of checkLifecycle.errors ?? []) {
    const n = e.keyword === "required" ? String(e.params.missingProperty) : e.instancePath.slice(1);
    names.add(n);
  }
  return [...names].map((n) => `parameter \`${n}\` is missing or malformed: expected ${WHAT[n] ?? "a valid value"}`).join("; ");
}

interface ProviderAnswer {
  status: number;
  body: Record<string, unknown>;
}

async function call(p: FeedActionParams, method: string, path: string, body?: unknown): Promise<ProviderAnswer> {
  const url = `${p.providerUrl.replace(/\/+$/, "")}/api/v1/registrations${path}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: {
        authorization: `Basic ${Buffer.from(p.providerAuth).toString("base64")}`,
        "x-owner-key": p.authKey,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(50_000),
    });
  } catch (e) {
    const err = e as Error & { cause?: { code?: string } };
    return {
      status: 503,
      body: {
        error: `the feed provider at ${p.providerUrl} cannot be reached (${err.cause?.code ?? err.name}); try again later or ask the operator`,
      },
    };
  }
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) as Record<string, unknown> };
  } catch {
    return { status: res.status, body: { error: `the feed provider answered ${res.status} without JSON` } };
  }
}

function triggerPath(triggerName: string): string {
  const [ns, name] = triggerName.replace(/^\//, "").split("/") as [string, string];
  return `/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`;
}

/** A failed lifecycle call: `{error}` makes the activation an application error, so wsk rolls back. */
function fail(message: string): { error: string } {
  return { error: message };
}

export async function main(params: Record<string, unknown>): Promise<Record<string, unknown>> {
  if (!checkLifecycle(params)) return fail(lifecycleError());
  const p = params as FeedActionParams;
  const path = triggerPath(p.triggerName);
  const apihost = process.env.__OW_API_HOST;
  let answer: ProviderAnswer;
  switch (p.lifecycleEvent) {
    case "CREATE": {
      const config = pickFeedConfig(p);
      const checked = checkFeedConfig(config);
      if (!checked.ok) return fail(checked.error);
      answer = await call(p, "POST", "", { triggerName: p.triggerName, authKey: p.authKey, config: checked.value, apihost });
      break;
    }
    case "UPDATE":
      // only the given parameters change; the provider merges them with the stored ones and checks the result
      answer = await call(p, "PATCH", path, { config: pickFeedConfig(p), apihost });
      break;
    case "READ":
      answer = await call(p, "GET", path);
      if (answer.status === 200) return answer.body;
      break;
    case "DELETE":
      answer = await call(p, "DELETE", path);
      // nothing registered is what DELETE asks for: `serverless deploy` deletes before every create
      if (answer.status === 404 && answer.body.code === "NOT_FOUND") return { status: "success", detail: "no feed registration to delete" };
      break;
    case "PAUSE":
      answer = await call(p, "POST", `${path}/pause`);
      break;
    case "UNPAUSE":
      answer = await call(p, "POST", `${path}/unpause`);
      break;
  }
  if (answer.status >= 200 && answer.status < 300) return { status: "success" };
  return fail(typeof answer.body.error === "string" ? answer.body.error : `the feed provider answered ${answer.status}`);
}
