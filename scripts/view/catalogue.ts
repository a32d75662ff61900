// The function catalogue as the view shows it: every deployed action with its catalogue annotations
// (description, parameters, samples — scripts/build/annotations.ts), provenance, its bound
// parameters (package and action, secrets masked) and figures from its activations.
import type { Client, Dict } from "openwhisk";
import { maskSecrets } from "../build/secrets.ts";
import type { ActivationRecord } from "./activations.ts";

export interface ActionStats {
  invocations: number;
  errors: number;
  errorRate: number;
  p50: number | null;
  p99: number | null;
}

export interface CatalogueEntry {
  /** ns/pkg/name */
  name: string;
  kind: string;
  version: string;
  description?: string;
  parameters: unknown[];
  sampleInput?: unknown;
  sampleOutput?: unknown;
  provenance?: Dict;
  /** bound values: package parameters overlaid by the action's own, secrets masked */
  bound: Record<string, unknown>;
  /** a sequence's steps */
  components?: string[];
  stats: ActionStats;
}

const ann = (a: Dict, key: string) =>
  (a.annotations as Array<{ key: string; value: unknown }> | undefined)?.find((x) => x.key === key)?.value;

export function percentile(sorted: number[], p: number): number | null {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function statsOf(records: ActivationRecord[]): Map<string, ActionStats> {
  const by = new Map<string, ActivationRecord[]>();
  for (const r of records) {
    if (r.kind === "trigger") continue;
    const list = by.get(r.name) ?? [];
    list.push(r);
    by.set(r.name, list);
  }
  const out = new Map<string, ActionStats>();
  for (const [name, list] of by) {
    const d = list.map((r) => r.duration).sort((a, b) => a - b);
    const errors = list.filter((r) => !r.success || r.error).length;
    out.set(name, { invocations: list.length, errors, errorRate: errors / list.length, p50: percentile(d, 50), p99: percentile(d, 99) });
  }
  return out;
}

async function listAll(ow: Client): Promise<Dict[]> {
  const all: Dict[] = [];
  for (let skip = 0; ; skip += 200) {
    const page = (await ow.actions.list({ limit: 200, skip } as never)) as unknown as Dict[];
    all.push(...page);
    if (page.length < 200) return all;
  }
}

const asObject = (list: unknown): Record<string, unknown> =>
  Object.fromEntries(((list as Array<{ key: string; value: unknown }>) ?? []).map((p) => [p.key, p.value]));

/** The bound parameters of a package (cached per call of catalogue()). */
async function packageParams(
  ow: Client,
  pkg: string,
  cache: Map<string, Promise<Record<string, unknown>>>,
): Promise<Record<string, unknown>> {
  if (!cache.has(pkg))
    cache.set(
      pkg,
      ow.packages.get({ name: pkg } as never).then(
        (p) => asObject((p as unknown as Dict).parameters),
        () => ({}),
      ),
    );
  return cache.get(pkg)!;
}

/** Every parameter an action runs with: its package's, overlaid by its own. Unmasked: server-side only. */
export async function boundParams(ow: Client, fullName: string): Promise<Record<string, unknown>> {
  const parts = fullName.split("/");
  const action = (await ow.actions.get({ name: fullName } as never)) as unknown as Dict;
  // "/ns/pkg/name": the package is "/ns/pkg" (fully qualified, so the client does not take ns for a package)
  const pkg = parts.length >= 4 ? await packageParams(ow, `/${parts.slice(1, -1).join("/")}`, new Map()) : {};
  return { ...pkg, ...asObject(action.parameters) };
}

export async function catalogue(ow: Client, records: ActivationRecord[]): Promise<CatalogueEntry[]> {
  const stats = statsOf(records);
  const cache = new Map<string, Promise<Record<string, unknown>>>();
  const list = await listAll(ow);
  const entries = await Promise.all(
    list.map(async (brief) => {
      const ns = String(brief.namespace);
      const name = `${ns}/${brief.name}`;
      const a = (await ow.actions.get({ name: `/${name}` } as never)) as unknown as Dict;
      const pkg = ns.includes("/") ? await packageParams(ow, `/${ns}`, cache) : {};
      const e: CatalogueEntry = {
        name,
        kind: String(a.exec?.kind ?? "?"),
        version: String(a.version ?? ""),
        parameters: (ann(a, "parameters") as unknown[]) ?? [],
        bound: { ...pkg, ...asObject(a.parameters) },
        stats: stats.get(name) ?? { invocations: 0, errors: 0, errorRate: 0, p50: null, p99: null },
      };
      const d = ann(a, "description");
      if (d !== undefined) e.description = String(d);
      if (ann(a, "sampleInput") !== undefined) e.sampleInput = ann(a, "sampleInput");
      if (ann(a, "sampleOutput") !== undefined) e.sampleOutput = ann(a, "sampleOutput");
      const prov = ann(a, "provenance") as Dict | undefined;
      if (prov) e.provenance = prov;
      if (a.exec?.kind === "sequence" && Array.isArray(a.exec.components))
        e.components = a.exec.components.map((c: string) => c.replace(/^\//, ""));
      return maskSecrets(e);
    }),
  );
  return entries.sort((x, y) => x.name.localeCompare(y.name));
}

export interface RuleView {
  name: string;
  trigger: string;
  action: string;
  status: string;
}

export interface TriggerView {
  name: string;
  /** the feed action bound to it, if any */
  feed?: string;
  rules: RuleView[];
}

/** Triggers and the rules that connect them to actions: how storage events reach the pipelines. */
export async function wiring(ow: Client): Promise<TriggerView[]> {
  const triggers = (await ow.triggers.list({ limit: 200 } as never)) as unknown as Dict[];
  const rules = (await ow.rules.list({ limit: 200 } as never)) as unknown as Dict[];
  const full = await Promise.all(
    rules.map((r) =>
      ow.rules.get({ name: String(r.name) } as never).then(
        (x) => x as unknown as Dict,
        () => r,
      ),
    ),
  );
  const byTrigger = new Map<string, RuleView[]>();
  for (const r of full) {
    const t = typeof r.trigger === "object" ? `${r.trigger.path}/${r.trigger.name}` : String(r.trigger ?? "");
    const a = typeof r.action === "object" ? `${r.action.path}/${r.action.name}` : String(r.action ?? "");
    const v: RuleView = { name: String(r.name), trigger: t, action: a, status: String(r.status ?? "unknown") };
    const key = t.split("/").pop()!;
    byTrigger.set(key, [...(byTrigger.get(key) ?? []), v]);
  }
  return triggers.map((t) => {
    const feed = (t.annotations as Array<{ key: string; value: unknown }> | undefined)?.find((a) => a.key === "feed")?.value;
    const out: TriggerView = { name: `${t.namespace}/${t.name}`, rules: byTrigger.get(String(t.name)) ?? [] };
    if (feed !== undefined) out.feed = String(feed);
    return out;
  });
}
