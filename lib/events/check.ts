// Validates storage CloudEvents against their schema (lib/events/cloudevent.ts) with ajv: for the
// provider, which normalises what sources deliver, and for tests of what it fires.
import { Ajv } from "ajv";
import addFormatsModule from "ajv-formats";
import { storageCloudEventSchema, storageEventBatchSchema, type StorageCloudEvent, type StorageEventBatch } from "./cloudevent.ts";

// ajv-formats is CommonJS; under NodeNext its default export arrives wrapped.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (
  a: Ajv,
) => Ajv;
const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);
ajv.addSchema(storageCloudEventSchema);
const validateEvent = ajv.compile<StorageCloudEvent>(storageCloudEventSchema);
const validateBatch = ajv.compile<StorageEventBatch>(storageEventBatchSchema);

function describe(errors: typeof validateEvent.errors): string {
  return (errors ?? []).map((e) => `${e.instancePath || "(root)"} ${e.message}`).join("; ");
}

/** Checks a CloudEvent; returns a message naming what is wrong, or undefined when it is valid. */
export function checkStorageCloudEvent(value: unknown): string | undefined {
  return validateEvent(value) ? undefined : `not a storage CloudEvent: ${describe(validateEvent.errors)}`;
}

/** Checks a fired trigger payload `{"events":[…]}`. */
export function checkStorageEventBatch(value: unknown): string | undefined {
  return validateBatch(value) ? undefined : `not a storage event batch {"events":[…]}: ${describe(validateBatch.errors)}`;
}
