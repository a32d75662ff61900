// API errors carry the HTTP status; the server turns them into OpenWhisk's error body
// `{"error": message, "code": transaction id}`. Messages are OpenWhisk's own wording where it has one.
import { HttpError } from "../../lib/http/server.ts";

export class ApiError extends HttpError {
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(status, message, { headers });
  }
}

export const Messages = {
  notFound: "The requested resource does not exist.",
  forbidden: "The supplied authentication is not authorized to access this resource.",
  unauthorized: "The supplied authentication is invalid.",
  missingAuth: "The resource requires authentication, which was not supplied with the request.",
  exists: "resource already exists",
  conformance: "Resource by this name exists but is not in this collection.",
  entityNameIllegal: "The name of the entity contains illegal characters.",
  namespaceIllegal: "The namespace contains illegal characters.",
  sequenceTooLong: "Too many actions in the sequence.",
  sequenceNoComponent: "No component specified for the sequence.",
  sequenceCyclic: "Sequence may not refer to itself.",
  sequenceComponentNotFound: "Sequence component does not exist.",
  bindingDoesNotExist: "Binding references a package that does not exist.",
  packageCannotBecomeBinding: "Resource is a package and cannot be converted into a binding.",
  bindingCannotReferenceBinding: "Cannot bind to another package binding.",
  notAllowedOnBinding: "Operation not permitted on package binding.",
  parametersNotAllowed: "Request defines parameters that are not allowed (e.g., reserved properties).",
  abnormalInitialization: "The action did not initialize and exited unexpectedly.",
  abnormalRun: "The action did not produce a valid response and exited unexpectedly.",
  memoryExhausted: "The action exhausted its memory and was aborted.",
  activationIdIllegal: "The activation id is not valid.",
  docsNotAllowedWithCount: "The parameter 'docs' is not permitted with 'count'.",
  packageNameIsReserved: (name: string) => `Package name '${name}' is reserved.`,
  packageNotEmpty: (n: number) => `Package not empty (contains ${n} ${n === 1 ? "entity" : "entities"})`,
  /** OpenWhisk's wording for a body over the limit (1 MB on invokes, fires and rule state changes). */
  requestTooLarge: (size: number, allowed: number) => `Request larger than allowed: ${size} > ${allowed} bytes.`,
  ruleWithoutTrigger: "Only rules with existing triggers can be activated",
  timedOut: (ms: number, init: boolean) =>
    `The action exceeded its time limits of ${ms} milliseconds${init ? " during initialization." : "."}`,
  tooManyRequests: (count: number, allowed: number) => `Too many requests in the last minute (count: ${count}, allowed: ${allowed}).`,
  tooManyConcurrent: (count: number, allowed: number) => `Too many concurrent requests in flight (count: ${count}, allowed: ${allowed}).`,
  invalidTimeout: (max: number) => `Timeout must be number of milliseconds up to ${max}.`,
  listLimitOutOfRange: (collection: string, value: number, max: number) =>
    `The value '${value}' is not in the range of 0 to ${max} for ${collection}.`,
  listSkipOutOfRange: (collection: string, value: number) => `The value '${value}' is not greater than or equal to 0 for ${collection}.`,
  argumentNotInteger: (collection: string, value: string) => `The value '${value}' is not an integer for ${collection}.`,
  badNameFilter: (value: string) => `Parameter may be a 'simple' name or 'package-name/simple' name: ${value}`,
  badEpoch: (value: string) => `Parameter is not a valid value for epoch seconds: ${value}`,
  invalidRuntime: (kind: string, kinds: string[]) =>
    `The specified runtime '${kind}' is not supported by this platform. Valid values are: '${kinds.join("', '")}'.`,
};
