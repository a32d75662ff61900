// Turns a JSON Schema into a validation function with ajv at run time: what tests and tsx runs use.
// Action bundles do not ship ajv's compiler: the build precompiles each action's schemas into
// standalone code and puts that in this module's place (scripts/build/validators.ts); both make
// their ajv with newAjv(), so a bundle validates exactly as this module does.
import { Ajv, type Options, type Schema, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";

const addFormats = (addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule;

/** An ajv instance as the functions validate with; `extra` is for the build (standalone code). */
export function newAjv(extra: Options = {}): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: false, ...extra });
  (addFormats as unknown as (a: Ajv) => void)(ajv);
  return ajv;
}

/** Every schema compiled in this process, in order: the build reads it to know what to precompile. */
export const compiledSchemas: Schema[] = [];

let ajv: Ajv | undefined;

export function compileSchema(schema: Schema): ValidateFunction {
  compiledSchemas.push(schema);
  ajv ??= newAjv();
  return ajv.compile(schema);
}
