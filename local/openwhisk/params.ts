// Parameters and annotations ([{key, value}] lists), their merge order and the `final` rule.
import { ApiError, Messages } from "./errors.ts";

export interface KeyValue {
  key: string;
  value: unknown;
  init?: boolean;
}

export function toObject(list: KeyValue[] | undefined): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const kv of list ?? []) o[kv.key] = kv.value;
  return o;
}

export function annotation(list: KeyValue[] | undefined, key: string): unknown {
  return list?.find((a) => a.key === key)?.value;
}

/** Returns `list` with `key` set to `value` (replacing an existing entry). */
export function withEntry(list: KeyValue[], key: string, value: unknown): KeyValue[] {
  return [...list.filter((kv) => kv.key !== key), { key, value }];
}

/** Adds `key` only if the list does not have it yet. */
export function withDefault(list: KeyValue[], key: string, value: unknown): KeyValue[] {
  return list.some((kv) => kv.key === key) ? list : [...list, { key, value }];
}

/**
 * An action annotated `final: true` keeps its bound parameters: a payload that tries to override one
 * that has a value is refused, as OpenWhisk does.
 */
export function checkFinal(annotations: KeyValue[] | undefined, bound: Record<string, unknown>, payload: Record<string, unknown>): void {
  if (annotation(annotations, "final") !== true) return;
  for (const k of Object.keys(payload)) {
    if (k in bound && bound[k] !== undefined && bound[k] !== null && bound[k] !== "") {
      throw new ApiError(400, Messages.parametersNotAllowed);
    }
  }
}
