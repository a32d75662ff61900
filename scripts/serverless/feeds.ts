// Binds and unbinds triggers to their feeds the way `wsk trigger create --feed` does: the feed action
// is invoked blocking with lifecycleEvent, triggerName (/namespace/name) and authKey, plus the feed
// parameters. serverless-openwhisk 0.18.4 never does this on deploy, and unbinds with /undefined/.
import type { Activation, FeedCall, OwClient, TriggerConfig } from "./upstream.ts";

/** How long a deploy waits for a feed action that the platform has queued. */
const FEED_WAIT_MS = Number(process.env.FEED_BIND_TIMEOUT_MS ?? 300_000);

export interface FeedBinding {
  trigger: string;
  /** /namespace/package/action as written in serverless.yml */
  feed: string;
  params: Record<string, unknown>;
}

export function feedBindings(triggers: Record<string, TriggerConfig> | undefined): FeedBinding[] {
  return Object.entries(triggers ?? {})
    .filter(([, t]) => t.feed)
    .map(([name, t]) => ({ trigger: name, feed: t.feed!, params: t.feed_parameters ?? {} }));
}

/** `/guest/dcache/changes` → namespace `guest`, feedName `dcache/changes`. */
export function splitFeed(feed: string): { namespace: string; feedName: string } {
  const parts = feed.split("/").filter(Boolean);
  if (parts.length < 2) {
    throw new Error(`feed "${feed}" must be a fully qualified action name such as /guest/dcache/changes`);
  }
  return { namespace: parts[0]!, feedName: parts.slice(1).join("/") };
}

/** The caller's real namespace: configured, else the first one the API key has (never "undefined"). */
export async function resolveNamespace(ow: OwClient, configured: string | undefined): Promise<string> {
  if (configured && configured !== "_") return configured;
  const list = await ow.namespaces.list();
  if (!list.length) throw new Error("the OpenWhisk API key has no namespace; check OW_AUTH / .wskprops");
  return list[0]!;
}

function feedCall(b: FeedBinding, namespace: string, withParams: boolean): FeedCall {
  const { namespace: feedNs, feedName } = splitFeed(b.feed);
  return { feedName, namespace: feedNs, trigger: `/${namespace}/${b.trigger}`, ...(withParams ? { params: b.params } : {}) };
}

function describeFailure(a: Activation | undefined, err?: unknown): string {
  if (err) {
    const e = err as { message?: string; error?: { response?: { result?: { error?: unknown } } } };
    const inner = e.error?.response?.result?.error;
    if (inner !== undefined) return typeof inner === "string" ? inner : JSON.stringify(inner);
    return e.message ?? String(err);
  }
  const result = a?.response?.result as { error?: unknown } | undefined;
  if (result?.error !== undefined) return typeof result.error === "string" ? result.error : JSON.stringify(result.error);
  if (!a?.response)
    return `the feed action (activation ${a?.activationId ?? "?"}) did not finish within ${FEED_WAIT_MS / 1000} s; OpenWhisk may be overloaded — look at that activation, or raise FEED_BIND_TIMEOUT_MS`;
  return `activation ${a.activationId ?? "?"} ended with status "${a.response.status ?? "unknown"}"`;
}

// A blocking invoke that outlives the platform's wait limit (a busy OpenWhisk queues the feed
// action behind running work) comes back as just an activation id: wait for its record.
async function settle(ow: OwClient, a: Activation, waitMs: number, log: (m: string) => void): Promise<Activation> {
  if (a.response || !a.activationId) return a;
  log(`feed activation ${a.activationId} is still running; waiting up to ${waitMs / 1000} s for it`);
  const until = Date.now() + waitMs;
  while (Date.now() < until) {
    try {
      return await ow.activations.get({ name: a.activationId });
    } catch {
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  return a;
}

export async function bindFeed(ow: OwClient, b: FeedBinding, namespace: string, log: (m: string) => void): Promise<void> {
  // A redeploy replaces the binding: DELETE first, and a trigger that was never bound is no error.
  try {
    await ow.feeds.delete(feedCall(b, namespace, false));
  } catch {
    log(`no earlier feed binding of trigger ${b.trigger} to remove`);
  }
  let activation: Activation | undefined;
  let failure: string | undefined;
  try {
    activation = await settle(ow, await ow.feeds.create(feedCall(b, namespace, true)), FEED_WAIT_MS, log);
    if (activation.response?.success !== true) failure = describeFailure(activation);
  } catch (err) {
    failure = describeFailure(undefined, err);
  }
  if (failure !== undefined) {
    throw new Error(
      `binding trigger /${namespace}/${b.trigger} to feed ${b.feed} failed: ${failure}. ` +
        `The trigger exists but receives no events. Check resources.triggers.${b.trigger}.feed_parameters in serverless.yml, then deploy again.`,
    );
  }
  log(`bound trigger ${b.trigger} to feed ${b.feed}`);
}

export async function unbindFeed(ow: OwClient, b: FeedBinding, namespace: string, log: (m: string) => void): Promise<void> {
  try {
    const a = await ow.feeds.delete(feedCall(b, namespace, false));
    if (a.response && a.response.success !== true) log(`feed ${b.feed} refused to unbind trigger ${b.trigger}: ${describeFailure(a)}`);
    else log(`unbound trigger ${b.trigger} from feed ${b.feed}`);
  } catch (err) {
    // As `wsk trigger delete` does, the trigger is removed even when the feed cannot be told.
    log(`could not unbind trigger ${b.trigger} from feed ${b.feed}: ${describeFailure(undefined, err)}`);
  }
}
