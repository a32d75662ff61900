// The fire stage: one POST /api/v1/namespaces/{ns}/triggers/{name} with the owner's key, and the
// classification of OpenWhisk's answer into what delivery should do next.
import { parseRetryAfter } from "./backoff.ts";
import { restFetch, type RestResponse } from "../../../lib/http/rest-fetch.ts";

export type FireOutcome =
  /** 202 (rules ran) or 204 (no active rule): the events are OpenWhisk's now */
  | { kind: "acknowledged"; status: number; activationId?: string }
  /** 429: throttled; retry later, carrying more events */
  | { kind: "throttled"; status: number; retryAfterMs?: number; message: string }
  /** 5xx, 408, 409, network errors: retry until maxAgeSeconds */
  | { kind: "retry"; status: number; retryAfterMs?: number; message: string }
  /** 401, 403, 404, 410: the trigger is gone or the key no longer works: disable the registration */
  | { kind: "disable"; status: number; message: string }
  /** other 4xx (e.g. 400, 413): this payload will never be accepted: dead-letter the batch */
  | { kind: "reject"; status: number; message: string };

export interface FireTarget {
  apihost: string;
  namespace: string;
  trigger: string;
  authKey: string;
}

export function triggerUrl(t: Pick<FireTarget, "apihost" | "namespace" | "trigger">): string {
  return `${t.apihost.replace(/\/+$/, "")}/api/v1/namespaces/${encodeURIComponent(t.namespace)}/triggers/${encodeURIComponent(t.trigger)}`;
}

export function basicAuth(key: string): string {
  return `Basic ${Buffer.from(key).toString("base64")}`;
}

/** OpenWhisk's error message, without echoing anything long or unexpected from the body. */
async function errorMessage(res: Pick<RestResponse, "status" | "text">): Promise<string> {
  const text = await res.text().catch(() => "");
  try {
    const msg = (JSON.parse(text) as { error?: unknown }).error;
    if (typeof msg === "string") return msg.slice(0, 300);
  } catch {
    /* not JSON */
  }
  return `HTTP ${res.status}${text ? `: ${text.slice(0, 120)}` : ""}`;
}

export function classify(status: number, message: string, retryAfterMs?: number): FireOutcome {
  if (status === 202 || status === 204 || (status >= 200 && status < 300)) return { kind: "acknowledged", status };
  if (status === 429) return { kind: "throttled", status, retryAfterMs, message };
  if (status >= 500 || status === 408 || status === 409) return { kind: "retry", status, retryAfterMs, message };
  if (status === 401 || status === 403 || status === 404 || status === 410) return { kind: "disable", status, message };
  return { kind: "reject", status, message };
}

export async function fireTrigger(target: FireTarget, body: string, timeoutMs: number): Promise<FireOutcome> {
  let res: RestResponse;
  try {
    res = await restFetch(triggerUrl(target), {
      method: "POST",
      headers: { authorization: basicAuth(target.authKey), "content-type": "application/json" },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    const err = e as Error & { cause?: { code?: string } };
    const why = err.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : (err.cause?.code ?? err.message);
    return { kind: "retry", status: 0, message: `OpenWhisk unreachable: ${why}` };
  }
  if (res.status === 202 || res.status === 204 || (res.status >= 200 && res.status < 300)) {
    const text = await res.text().catch(() => "");
    let activationId: string | undefined;
    try {
      activationId = text ? (JSON.parse(text) as { activationId?: string }).activationId : undefined;
    } catch {
      /* 204 has no body */
    }
    return { kind: "acknowledged", status: res.status, activationId };
  }
  return classify(res.status, await errorMessage(res), parseRetryAfter(res.headers.get("retry-after")));
}
