// Feed parameters → how to reach the dCache frontend, and the identity of the channel it shares:
// one channel per (frontend URL, credential) and provider replica.
import { createHash } from "node:crypto";
import type { DcacheSourceParams } from "../../../common/feed-params.ts";
import type { Credentials, DcacheEndpoint } from "../../../../lib/dcache/endpoint.ts";

export function credentialsOf(cfg: DcacheSourceParams): Credentials {
  const a = cfg.auth;
  if (!a) return { type: "none" };
  if ("token" in a) return { type: "bearer", token: a.token, via: a.via ?? "header" };
  return { type: "basic", username: a.username, password: a.password };
}

export function endpointOf(cfg: DcacheSourceParams): DcacheEndpoint {
  return { url: cfg.url.replace(/\/+$/, ""), credentials: credentialsOf(cfg), timeoutMs: 30_000 };
}

/** A key naming (frontend, credential) without revealing the credential. */
export function channelKey(cfg: DcacheSourceParams): string {
  return createHash("sha256")
    .update(JSON.stringify([cfg.url.replace(/\/+$/, ""), credentialsOf(cfg)]))
    .digest("hex");
}

/** The client-id a replica's channel is created with, so a restarted provider finds it again. */
export function channelClientId(key: string, replicaId: string): string {
  return `owfeed-${replicaId}-${key.slice(0, 16)}`;
}
