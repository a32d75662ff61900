// Proves that whoever registers a feed owns the trigger: OpenWhisk must show the trigger to the given
// key. The answer also tells the trigger's real namespace when the name came as "/_/name".
import { basicAuth } from "./pipeline/firer.ts";

export class OwnershipError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface TriggerRef {
  namespace: string;
  name: string;
}

/** "/ns/name", "ns/name" or "/_/name" → parts; undefined when malformed. */
export function parseTriggerName(triggerName: string): TriggerRef | undefined {
  const m = /^\/?([^/\s]+)\/([^/\s]+)$/.exec(triggerName);
  return m ? { namespace: m[1]!, name: m[2]! } : undefined;
}

export async function verifyTriggerOwner(apihost: string, ref: TriggerRef, authKey: string, timeoutMs = 10_000): Promise<TriggerRef> {
  const url = `${apihost.replace(/\/+$/, "")}/api/v1/namespaces/${encodeURIComponent(ref.namespace)}/triggers/${encodeURIComponent(ref.name)}`;
  let res: Response;
  try {
    res = await fetch(url, {
      headers: { authorization: basicAuth(authKey), accept: "application/json" },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    const err = e as Error & { cause?: { code?: string } };
    throw new OwnershipError(
      502,
      `cannot reach OpenWhisk at ${apihost} to verify the trigger (${err.cause?.code ?? err.message}); check the provider's OpenWhisk API host`,
    );
  }
  const body = (await res.json().catch(() => ({}))) as { namespace?: string; name?: string };
  if (res.status === 200) return { namespace: (body.namespace ?? ref.namespace).split("/")[0]!, name: body.name ?? ref.name };
  if (res.status === 401 || res.status === 403)
    throw new OwnershipError(
      403,
      `the authKey is not authorized for trigger /${ref.namespace}/${ref.name} (OpenWhisk answered ${res.status}); the trigger owner's key is needed`,
    );
  if (res.status === 404)
    throw new OwnershipError(
      404,
      `trigger /${ref.namespace}/${ref.name} does not exist in OpenWhisk; create the trigger before registering its feed`,
    );
  throw new OwnershipError(502, `OpenWhisk answered ${res.status} while verifying trigger /${ref.namespace}/${ref.name}; try again`);
}
