// The frontend's storage-events REST API (/api/v1/events): channels and subscriptions. The SSE
// stream of a channel is in ./event-stream.ts.
import type { SelectorFlag } from "../events/inotify.ts";
import { call, DcacheError, errorFrom, redact, urlOf, type DcacheEndpoint } from "./endpoint.ts";

export interface InotifySelector {
  /** absolute dCache path of a directory (its entries' events) or a file */
  path: string;
  /** absent = all events */
  flags?: SelectorFlag[];
}

export interface EventsServiceInfo {
  channels: { lifetimeWhenDisconnected: { maximum: number; minimum: number; default: number }; maximumPerUser: number };
}

const EVENTS = "/api/v1/events";

function channelsUrl(ep: DcacheEndpoint): URL {
  return urlOf(ep.url, `${EVENTS}/channels`);
}

export async function eventsInfo(ep: DcacheEndpoint): Promise<EventsServiceInfo> {
  const res = await call(ep, urlOf(ep.url, EVENTS));
  if (!res.ok) throw await errorFrom(res, "reading the events service metadata");
  return (await res.json()) as EventsServiceInfo;
}

/** Creates a channel; returns its URL (the Location header). */
export async function createChannel(ep: DcacheEndpoint, opts: { clientId?: string } = {}): Promise<string> {
  const res = await call(ep, channelsUrl(ep), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(opts.clientId ? { "client-id": opts.clientId } : {}),
  });
  if (res.status !== 201) throw await errorFrom(res, "creating an event channel");
  const location = res.headers.get("location");
  if (!location)
    throw new DcacheError(res.status, redact(res.url), "creating an event channel: the frontend sent 201 without a Location header");
  await res.body?.cancel();
  return new URL(location, res.url).toString();
}

/** URLs of this user's channels; with clientId only those created with it ("" = without one). */
export async function listChannels(ep: DcacheEndpoint, opts: { clientId?: string } = {}): Promise<string[]> {
  const url = channelsUrl(ep);
  if (opts.clientId !== undefined) url.searchParams.set("client-id", opts.clientId);
  const res = await call(ep, url, { headers: { Accept: "application/json" } });
  if (!res.ok) throw await errorFrom(res, "listing event channels");
  return (await res.json()) as string[];
}

/** Reuses the channel created earlier with this client-id, or creates one. */
export async function findOrCreateChannel(ep: DcacheEndpoint, clientId: string): Promise<{ url: string; created: boolean }> {
  const existing = await listChannels(ep, { clientId });
  if (existing.length > 0) return { url: existing[0]!, created: false };
  return { url: await createChannel(ep, { clientId }), created: true };
}

/** The channel's disconnect timeout in seconds, or null when the channel no longer exists. */
export async function getChannelTimeout(ep: DcacheEndpoint, channelUrl: string): Promise<number | null> {
  const res = await call(ep, new URL(channelUrl), { headers: { Accept: "application/json" } });
  if (res.status === 404) {
    await res.body?.cancel();
    return null;
  }
  if (!res.ok) throw await errorFrom(res, "reading a channel");
  return ((await res.json()) as { timeout: number }).timeout;
}

/** Sets how long (1…86400 s) the channel survives without a connected client. */
export async function setChannelTimeout(ep: DcacheEndpoint, channelUrl: string, seconds: number): Promise<void> {
  const res = await call(ep, new URL(channelUrl), {
    method: "PATCH",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ timeout: seconds }),
  });
  if (res.status !== 204 && !res.ok) throw await errorFrom(res, `setting the channel timeout to ${seconds} s`);
  await res.body?.cancel();
}

export async function deleteChannel(ep: DcacheEndpoint, channelUrl: string): Promise<void> {
  const res = await call(ep, new URL(channelUrl), { method: "DELETE" });
  if (res.status !== 204 && res.status !== 404 && !res.ok) throw await errorFrom(res, "deleting a channel");
  await res.body?.cancel();
}

/**
 * Adds an inotify watch. `existed` is true when the path was already watched on this channel
 * (303 See Other: the flags were replaced, or OR-ed with IN_MASK_ADD).
 */
export async function subscribeInotify(
  ep: DcacheEndpoint,
  channelUrl: string,
  selector: InotifySelector,
): Promise<{ url: string; existed: boolean }> {
  const res = await call(ep, new URL(`${channelUrl}/subscriptions/inotify`), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(selector),
  });
  if (res.status !== 201 && res.status !== 303) throw await errorFrom(res, `watching ${selector.path}`);
  const location = res.headers.get("location");
  await res.body?.cancel();
  if (!location) throw new DcacheError(res.status, redact(res.url), `watching ${selector.path}: the frontend sent no Location header`);
  return { url: new URL(location, res.url).toString(), existed: res.status === 303 };
}

export async function listSubscriptions(ep: DcacheEndpoint, channelUrl: string): Promise<string[]> {
  const res = await call(ep, new URL(`${channelUrl}/subscriptions`), { headers: { Accept: "application/json" } });
  if (!res.ok) throw await errorFrom(res, "listing subscriptions");
  return (await res.json()) as string[];
}

/** The selector of a subscription, or null when it no longer exists. */
export async function getSubscription(ep: DcacheEndpoint, subscriptionUrl: string): Promise<InotifySelector | null> {
  const res = await call(ep, new URL(subscriptionUrl), { headers: { Accept: "application/json" } });
  if (res.status === 404) {
    await res.body?.cancel();
    return null;
  }
  if (!res.ok) throw await errorFrom(res, "reading a subscription");
  return (await res.json()) as InotifySelector;
}

export async function unsubscribe(ep: DcacheEndpoint, subscriptionUrl: string): Promise<void> {
  const res = await call(ep, new URL(subscriptionUrl), { method: "DELETE" });
  if (res.status !== 204 && res.status !== 404 && !res.ok) throw await errorFrom(res, "removing a subscription");
  await res.body?.cancel();
}
