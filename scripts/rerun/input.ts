// OpenWhisk keeps an activation's result but not its input. The input is recovered from the records
// that caused it: a sequence component got the previous component's result (the first one got the
// sequence's input), and an action fired by a rule got its trigger activation's result (the payload).
import type { Activation, Client, Dict } from "openwhisk";

export interface RecoveredInput {
  input: Dict;
  /** how it was found, for the report */
  from: string;
}

const annotation = (a: Activation<Dict>, key: string): unknown => a.annotations?.find((x) => x.key === key)?.value;

export async function recoverInput(ow: Client, activation: Activation<Dict>, depth = 0): Promise<RecoveredInput | null> {
  const causeId = (activation as { cause?: string }).cause;
  if (!causeId || depth > 50) return null;
  const cause = await ow.activations.get({ name: causeId });
  if (annotation(activation, "causedBy") === "sequence") {
    const components = (cause.logs ?? []) as string[];
    const k = components.indexOf(activation.activationId);
    if (k > 0) {
      const previous = await ow.activations.get({ name: components[k - 1]! });
      return { input: (previous.response?.result ?? {}) as Dict, from: `result of sequence component ${k} (${components[k - 1]})` };
    }
    if (k === 0) {
      const outer = await recoverInput(ow, cause, depth + 1);
      return outer && { ...outer, from: `input of sequence ${cause.name}: ${outer.from}` };
    }
    return null;
  }
  // A trigger activation's result is the payload as fired; the rules' actions got the trigger's
  // parameters under it, which OpenWhisk does not record: take them as the trigger has them now.
  if (annotation(cause, "kind") === undefined && (cause.logs ?? []).some((l) => typeof l === "string" && l.includes('"rule"'))) {
    const payload = (cause.response?.result ?? {}) as Dict;
    const params = await triggerParameters(ow, cause);
    const under = Object.keys(params).filter((k) => !(k in payload));
    const from = `payload of trigger ${cause.name} (${causeId})${under.length ? ` over its current parameters ${under.join(", ")}` : ""}`;
    return { input: { ...params, ...payload }, from };
  }
  return null;
}

async function triggerParameters(ow: Client, triggerActivation: Activation<Dict>): Promise<Dict> {
  try {
    const t = await ow.triggers.get({ name: triggerActivation.name, namespace: triggerActivation.namespace } as never);
    return Object.fromEntries(((t.parameters ?? []) as Array<{ key: string; value: unknown }>).map((p) => [p.key, p.value]));
  } catch {
    // The trigger is gone: its parameters cannot be known any more, the payload is all there is.
    return {};
  }
}
