// What placement and lifecycle do with Rucio beyond the client: name a file's DID, read a DID's
// rules, add a rule idempotently (a replay finds the rule it made before), and turn Rucio's answers
// into errors that say which parameter or plan to check.
import { ActionError, StepFailure } from "./errors.ts";
import type { RucioAnswer, RucioClient } from "./rucio-client.ts";

export interface Did {
  scope: string;
  name: string;
}

/** Rucio's rule as GET /rules/{id} and /dids/{scope}/{name}/rules give it (the fields used here). */
export interface RucioRule {
  id: string;
  account: string;
  rse_expression: string;
  copies: number;
  state: "OK" | "REPLICATING" | "STUCK" | "SUSPENDED" | "WAITING_APPROVAL" | "INJECT";
  error?: string | null;
  expires_at?: string | null;
  comments?: string | null;
}

export function failed(what: string, file: string, a: RucioAnswer): ActionError {
  const why = `${a.exceptionClass ?? `HTTP ${a.status}`}${a.message ? `: ${a.message}` : ""}`;
  // A wrong RSE or scope concerns every file: the step fails as a whole.
  const setting = a.exceptionClass === "RSENotFound" ? "bufferRse" : a.exceptionClass === "ScopeNotFound" ? "scope" : undefined;
  if (setting) return new StepFailure(`Rucio ${what} for ${file} failed (${a.status} ${why}); check ${setting}`, false, a.status);
  const hint = a.status >= 500 ? "; Rucio has a problem, retry later" : "";
  return new ActionError(`Rucio ${what} for ${file} failed (${a.status} ${why})${hint}`, a.status);
}

export function didName(path: string, prefix: string | undefined): string {
  return prefix && path.startsWith(prefix) ? path.slice(prefix.length).replace(/^\/*/, "/") : path;
}

const didPath = (did: Did) => `/dids/${encodeURIComponent(did.scope)}/${encodeURIComponent(did.name)}`;

/** The DID's rules; undefined when Rucio does not know the DID. */
export async function rulesOf(client: RucioClient, file: string, did: Did): Promise<RucioRule[] | undefined> {
  const a = await client.call("GET", `${didPath(did)}/rules`);
  if (a.status === 404 && a.exceptionClass === "DataIdentifierNotFound") return undefined;
  if (a.status !== 200) throw failed(`rule listing of ${did.scope}:${did.name}`, file, a);
  return a.text
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as RucioRule);
}

/** Adds a rule for one DID; a replay (409 DuplicateRule) reports the rule that exists already. */
export async function addRule(
  client: RucioClient,
  file: string,
  did: Did,
  body: Record<string, unknown>,
  onError = failed,
): Promise<string> {
  const a = await client.call("POST", "/rules/", { dids: [did], grouping: "NONE", ...body });
  if (a.status === 201 && Array.isArray(a.json) && typeof a.json[0] === "string") return a.json[0];
  if (a.status === 409 && a.exceptionClass === "DuplicateRule") {
    const same = (await rulesOf(client, file, did))?.find(
      (r) => r.account === body.account && r.rse_expression === body.rse_expression && r.copies === body.copies,
    );
    if (same) return same.id;
  }
  throw onError(`rule on ${String(body.rse_expression)}`, file, a);
}
