// A thin SciCat API v3 client: login with a cached token refreshed before it runs out (and once
// more on a 401), and JSON calls that turn failures into clear messages.
import { createHash } from "node:crypto";
import { ActionError, StepFailure, bodyExcerpt, fetchRetrying, safeUrl } from "../_shared/errors.ts";
import { requestTimeout } from "../_shared/storage.ts";
import type { RestInit, RestResponse } from "../../lib/http/rest-fetch.ts";

export interface ScicatParams {
  scicatUrl: string;
  scicatUsername?: string;
  scicatPassword?: string;
  scicatToken?: string;
  timeoutMs?: number;
}

interface CachedToken {
  token: string;
  renewAt: number;
}

// Survives between activations of a warm action container: one login serves many events.
const tokens = new Map<string, CachedToken>();
// Renew a minute before expiry, or after 90 % of a short lifetime.
function renewAfter(lifetimeMs: number): number {
  return Math.max(0, lifetimeMs - Math.min(60_000, lifetimeMs / 10));
}

export class ScicatClient {
  private readonly base: string;

  constructor(private readonly p: ScicatParams) {
    const b = p.scicatUrl.replace(/\/+$/, "");
    this.base = b.endsWith("/api/v3") ? b : `${b}/api/v3`;
  }

  private get cacheKey(): string {
    // The password's hash is part of the key: changed credentials must not reuse an old login.
    return `${this.base}\n${this.p.scicatUsername ?? ""}\n${createHash("sha256")
      .update(this.p.scicatPassword ?? "")
      .digest("hex")}`;
  }

  private async fetch(path: string, init: RestInit): Promise<RestResponse> {
    return fetchRetrying("SciCat", this.base + path, "scicatUrl", init, requestTimeout(this.p.timeoutMs));
  }

  async token(forceNew = false): Promise<string> {
    if (this.p.scicatToken) return this.p.scicatToken;
    const cached = tokens.get(this.cacheKey);
    if (!forceNew && cached && cached.renewAt > Date.now()) return cached.token;
    if (!this.p.scicatUsername || this.p.scicatPassword === undefined) {
      throw new StepFailure("SciCat credentials missing: give scicatUsername and scicatPassword (or scicatToken)", false);
    }
    const res = await this.fetch("/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ username: this.p.scicatUsername, password: this.p.scicatPassword }),
    });
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      throw new StepFailure(
        `SciCat login as ${this.p.scicatUsername} at ${safeUrl(this.base)} refused (${res.status}); check scicatUsername and scicatPassword`,
        false,
        res.status,
      );
    }
    if (!res.ok)
      throw new ActionError(
        `SciCat login at ${safeUrl(this.base)} failed: HTTP ${res.status} ${await bodyExcerpt(res)}`.trim(),
        res.status,
      );
    const j = (await res.json()) as { access_token?: string; id?: string; expires_in?: number; ttl?: number };
    const token = j.access_token ?? j.id;
    if (!token) throw new ActionError(`SciCat login at ${safeUrl(this.base)} answered without access_token; is scicatUrl a SciCat API v3?`);
    const ttl = Number(j.expires_in ?? j.ttl ?? 3600);
    tokens.set(this.cacheKey, { token, renewAt: Date.now() + renewAfter(ttl * 1000) });
    return token;
  }

  /** One JSON call; a 401 with a cached token logs in again once (the token may have been revoked). */
  async call(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    for (let attempt = 0; ; attempt++) {
      const token = await this.token(attempt > 0);
      const init: RestInit = {
        method,
        headers: {
          Authorization: `Bearer ${token}`,
          Accept: "application/json",
          ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
        },
      };
      if (body !== undefined) init.body = JSON.stringify(body);
      const res = await this.fetch(path, init);
      if (res.status === 401 && attempt === 0 && !this.p.scicatToken) {
        await res.body?.cancel();
        tokens.delete(this.cacheKey);
        continue;
      }
      if (res.status === 401 || res.status === 403) {
        await res.body?.cancel();
        throw new ActionError(
          `SciCat ${method} ${path} refused (${res.status}); the account ${this.p.scicatUsername ?? "(token)"} lacks permission or the token is invalid`,
          res.status,
        );
      }
      const text = await res.text();
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = text;
      }
      return { status: res.status, json };
    }
  }
}

/** For tests: forget cached tokens. */
export function forgetScicatTokens(): void {
  tokens.clear();
}
