// Where a file's replicas are and what state its rules are in, read from Rucio's REST API as any
// client would (GET /replicas/{scope}/{name}?all_states=True, GET /dids/{scope}/{name}/rules):
// `npm run demo` prints it per file.
export interface RucioView {
  replicas: Array<{ rse: string; state: string; pfn: string }>;
  rules: Array<{
    id: string;
    rse_expression: string;
    copies: number;
    state: string;
    error: string | null;
    expires_at: string | null;
    comments: string | null;
  }>;
}

export async function rucioToken(url: string, account = "demo", username = "demo", password = "demo"): Promise<string> {
  const r = await fetch(`${url}/auth/userpass`, {
    headers: { "X-Rucio-Account": account, "X-Rucio-Username": username, "X-Rucio-Password": password },
  });
  const token = r.headers.get("x-rucio-auth-token");
  await r.body?.cancel();
  if (!token) throw new Error(`Rucio at ${url} refused the login (${r.status})`);
  return token;
}

/** The file's replicas (every state) and rules; undefined when Rucio does not know the file. */
export async function rucioView(url: string, token: string, scope: string, name: string): Promise<RucioView | undefined> {
  const get = (path: string) => fetch(url + path, { headers: { "X-Rucio-Auth-Token": token } });
  const did = `${encodeURIComponent(scope)}/${encodeURIComponent(name)}`;
  const reps = await get(`/replicas/${did}?all_states=True`);
  if (reps.status === 404) return undefined;
  const line = JSON.parse((await reps.text()).split("\n")[0] || "{}") as {
    rses?: Record<string, string[]>;
    states?: Record<string, string>;
  };
  const rules = (await (await get(`/dids/${did}/rules`)).text())
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as RucioView["rules"][number]);
  return {
    replicas: Object.entries(line.rses ?? {}).map(([rse, pfns]) => ({ rse, state: line.states?.[rse] ?? "?", pfn: pfns[0] ?? "" })),
    rules,
  };
}

/** Lines for a terminal: one per replica, one per rule. */
export function viewLines(v: RucioView | undefined, indent: string): string[] {
  if (!v) return [`${indent}Rucio: not registered`];
  const out = v.replicas.map((r) => `${indent}replica ${r.rse.padEnd(16)} ${r.state.padEnd(9)} ${r.pfn}`);
  if (!v.replicas.length) out.push(`${indent}replica (none)`);
  for (const r of v.rules) {
    const extra = r.state === "STUCK" && r.error ? `: ${r.error}` : r.expires_at ? ` until ${r.expires_at}` : "";
    out.push(`${indent}rule    ${r.rse_expression.padEnd(16)} ×${r.copies} ${r.state}${extra}  (${r.comments ?? r.id})`);
  }
  return out;
}
