// The OpenWhisk REST calls that follow a fire to its outcome, with the trigger owner's key: read an
// activation, read the trigger (its parameters), invoke a rule's action again. Public API only, so
// it works unchanged against a facility's OpenWhisk.
import { basicAuth, type FireTarget } from "../pipeline/firer.ts";
import { restFetch } from "../../../lib/http/rest-fetch.ts";

export type Answer<T> = { status: number; body?: T; message?: string };

export interface ActivationDoc {
  activationId?: string;
  logs?: unknown;
  end?: number;
  response?: { success?: boolean; status?: string; result?: unknown };
}

function base(t: FireTarget): string {
  return `${t.apihost.replace(/\/+$/, "")}/api/v1/namespaces/${encodeURIComponent(t.namespace)}`;
}

async function call<T>(t: FireTarget, method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<Answer<T>> {
  try {
    const res = await restFetch(base(t) + path, {
      method,
      headers: { authorization: basicAuth(t.authKey), ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON */
    }
    if (res.ok) return { status: res.status, body: json as T };
    const msg = (json as { error?: unknown } | undefined)?.error;
    return { status: res.status, message: typeof msg === "string" ? msg.slice(0, 300) : `HTTP ${res.status}` };
  } catch (e) {
    const err = e as Error & { cause?: { code?: string } };
    return { status: 0, message: err.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : (err.cause?.code ?? err.message) };
  }
}

/** 200 with the record once it exists; 404 while it does not (yet). */
export function getActivation(t: FireTarget, id: string): Promise<Answer<ActivationDoc>> {
  return call<ActivationDoc>(t, "GET", `/activations/${encodeURIComponent(id)}`);
}

export async function triggerParameters(t: FireTarget): Promise<Answer<Record<string, unknown>>> {
  const a = await call<{ parameters?: Array<{ key: string; value: unknown }> }>(t, "GET", `/triggers/${encodeURIComponent(t.trigger)}`);
  if (a.status !== 200) return { status: a.status, message: a.message };
  return { status: 200, body: Object.fromEntries((a.body?.parameters ?? []).map((p) => [p.key, p.value])) };
}

/**
 * Invokes the action a rule names (as the trigger activation writes it: "ns/name" or
 * "ns/package/name") non-blocking, as the rule did; 202 with the new activation's id.
 */
export async function invokeRuleAction(
  t: FireTarget,
  action: string,
  payload: Record<string, unknown>,
): Promise<Answer<{ activationId: string }>> {
  const [ns, ...rest] = action.split("/");
  const target = { ...t, namespace: ns || t.namespace };
  return call<{ activationId: string }>(target, "POST", `/actions/${rest.map(encodeURIComponent).join("/")}?blocking=false`, payload);
}

/**
 * The ids of the namespace's finished activations of `name` ("trigger", "action" or
 * "package/action") that started at or after `since` (epoch ms), newest first, one page of at most
 * `limit` from `skip`. OpenWhisk lists an activation once its record is written, at its end.
 */
export async function listActivationIds(
  t: FireTarget,
  name: string,
  since: number,
  skip: number,
  limit: number,
): Promise<Answer<string[]>> {
  const q = new URLSearchParams({ name, since: String(Math.floor(since)), skip: String(skip), limit: String(limit), docs: "false" });
  const a = await call<Array<{ activationId?: string }>>(t, "GET", `/activations?${q}`);
  if (a.status !== 200) return { status: a.status, message: a.message };
  return { status: 200, body: (a.body ?? []).flatMap((x) => (typeof x.activationId === "string" ? [x.activationId] : [])) };
}
