// A thin Rucio REST client: userpass auth with the token cached until shortly before
// X-Rucio-Auth-Token-Expires (and renewed once on a 401), and JSON calls with Rucio's errors
// (ExceptionClass/ExceptionMessage) turned into clear messages.
import { createHash } from "node:crypto";
import { ActionError, StepFailure, fetchRetrying, safeUrl } from "./errors.ts";
import { requestTimeout } from "./storage.ts";
import type { RestInit, RestResponse } from "../../lib/http/rest-fetch.ts";

export interface RucioParams {
  rucioUrl: string;
  rucioAccount: string;
  rucioUsername?: string;
  rucioPassword?: string;
  rucioToken?: string;
  timeoutMs?: number;
}

export interface RucioAnswer {
  status: number;
  exceptionClass?: string;
  message?: string;
  json?: unknown;
  text: string;
}

const tokens = new Map<string, { token: string; renewAt: number }>();
// Renew a minute before expiry, or after 90 % of a short lifetime.

export class RucioClient {
  private readonly base: string;

  constructor(private readonly p: RucioParams) {
    this.base = p.rucioUrl.replace(/\/+$/, "");
  }

  private get cacheKey(): string {
    return [
      this.base,
      this.p.rucioAccount,
      this.p.rucioUsername ?? "",
      createHash("sha256")
        .update(this.p.rucioPassword ?? "")
        .digest("hex"),
    ].join("\n");
  }

  private async fetch(path: string, init: RestInit): Promise<RestResponse> {
    return fetchRetrying("Rucio", this.base + path, "rucioUrl", init, requestTimeout(this.p.timeoutMs));
  }

  async token(forceNew = false): Promise<string> {
    if (this.p.rucioToken) return this.p.rucioToken;
    const cached = tokens.get(this.cacheKey);
    if (!forceNew && cached && cached.renewAt > Date.now()) return cached.token;
    if (!this.p.rucioUsername || this.p.rucioPassword === undefined)
      throw new StepFailure("Rucio credentials missing: give rucioUsername and rucioPassword (or rucioToken)", false);
    const res = await this.fetch("/auth/userpass", {
      headers: {
        "X-Rucio-Account": this.p.rucioAccount,
        "X-Rucio-Username": this.p.rucioUsername,
        "X-Rucio-Password": this.p.rucioPassword,
      },
    });
    const token = res.headers.get("x-rucio-auth-token");
    await res.body?.cancel();
    if (res.status === 401 || res.status === 403) {
      throw new StepFailure(
        `Rucio login to account ${this.p.rucioAccount} as ${this.p.rucioUsername} at ${safeUrl(this.base)} refused (${res.status}); check rucioAccount, rucioUsername and rucioPassword`,
        false,
        res.status,
      );
    }
    if (!res.ok || !token)
      throw new ActionError(
        `Rucio login at ${safeUrl(this.base)} failed: HTTP ${res.status}${token ? "" : " without X-Rucio-Auth-Token"}; is rucioUrl a Rucio server?`,
        res.status,
      );
    const exp = Date.parse(res.headers.get("x-rucio-auth-token-expires") ?? "");
    const lifetime = Number.isNaN(exp) ? 3600_000 : exp - Date.now();
    tokens.set(this.cacheKey, { token, renewAt: Date.now() + Math.max(0, lifetime - Math.min(60_000, lifetime / 10)) });
    return token;
  }

  async call(method: string, path: string, body?: unknown): Promise<RucioAnswer> {
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = {
        "X-Rucio-Auth-Token": await this.token(attempt > 0),
        Accept: "application/json, application/x-json-stream",
      };
      const init: RestInit = { method, headers };
      if (body !== undefined) {
        headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(body);
      }
      const res = await this.fetch(path, init);
      const text = await res.text();
      if (res.status === 401 && attempt === 0 && !this.p.rucioToken && res.headers.get("exceptionclass") === "CannotAuthenticate") {
        tokens.delete(this.cacheKey);
        continue;
      }
      const answer: RucioAnswer = { status: res.status, text };
      try {
        answer.json = text ? JSON.parse(text) : undefined;
      } catch {
        /* x-json-stream or text */
      }
      const j = answer.json as { ExceptionClass?: string; ExceptionMessage?: string } | undefined;
      const cls = res.headers.get("exceptionclass") ?? j?.ExceptionClass;
      const msg = j?.ExceptionMessage ?? res.headers.get("exceptionmessage") ?? undefined;
      if (cls) answer.exceptionClass = cls;
      if (msg) answer.message = msg;
      return answer;
    }
  }
}

export function forgetRucioTokens(): void {
  tokens.clear();
}
