// Turns low-level failures into messages that say what was wrong and what to do.
import { restFetch, type RestInit, type RestResponse } from "../../lib/http/rest-fetch.ts";

/** A failure the caller should see as the action's `{error}`; never carries secrets. */
export class ActionError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/**
 * One file cannot go on: it leaves the batch into the result's `failed` list while the rest of the
 * batch goes on. `permanent`: retrying the same bytes cannot help (corrupt file, checksum mismatch).
 */
export class FileFailure extends ActionError {
  /**
   * `known`: what the step learnt of the file before it failed (size, mtime, ADLER32 as the storage
   * has them), so that a later rescan of the same bytes is recognised and not run again
   */
  constructor(
    message: string,
    readonly permanent: boolean,
    status?: number,
    readonly known?: { size?: number; mtime?: string; adler32?: string },
  ) {
    super(message, status);
  }
}

/**
 * Something that concerns every file of the step (bad parameters, credentials refused, a service
 * still unreachable after the client's own short retries): the step fails as a whole, naming its
 * files, and says whether trying again later can help.
 */
export class StepFailure extends ActionError {
  constructor(
    message: string,
    readonly transient: boolean,
    status?: number,
  ) {
    super(message, status);
  }
}

/** Whether an HTTP status says the same request may succeed later. */
export function transientStatus(status: number | undefined): boolean {
  return status === undefined || status === 0 || status >= 500 || status === 408 || status === 429;
}

/** Describes a fetch() failure (no answer at all) for the service `what` at `url`. */
export function unreachable(what: string, url: string, param: string, e: unknown): StepFailure {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = err.cause?.code ?? "";
  const why =
    err.name === "TimeoutError" || err.name === "AbortError"
      ? "no answer before the timeout"
      : code === "ECONNREFUSED"
        ? "connection refused"
        : code === "ENOTFOUND"
          ? "host not found"
          : (err.cause?.message ?? err.message ?? String(e));
  return new StepFailure(`cannot reach ${what} at ${safeUrl(url)} (${why}); check that it runs and that parameter ${param} is right`, true);
}

/** A URL without user:password@ so it can go into messages and logs. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    u.search = "";
    return u.toString();
  } catch {
    return "<invalid URL>";
  }
}

/** A short excerpt of an error body (services explain 4xx there). */
export async function bodyExcerpt(res: Pick<RestResponse, "text">): Promise<string> {
  try {
    const text = (await res.text()).trim();
    try {
      const j = JSON.parse(text) as Record<string, unknown>;
      const m = j.message ?? j.error ?? j.ExceptionMessage ?? j.errors;
      if (m) return (typeof m === "string" ? m : JSON.stringify(m)).slice(0, 300);
    } catch {
      /* not JSON */
    }
    return text.slice(0, 300);
  } catch {
    return "";
  }
}

/**
 * fetch() that tries twice more when nobody answers at all (a service restarting), then fails the
 * step as transient. A request that timed out is not repeated: it may have been carried out.
 */
export async function fetchRetrying(what: string, url: string, param: string, init: RestInit, timeoutMs: number): Promise<RestResponse> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await restFetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    } catch (e) {
      const timedOut = (e as Error).name === "TimeoutError" || (e as Error).name === "AbortError";
      if (attempt >= 2 || timedOut) throw unreachable(what, url, param, e);
      await new Promise((r) => setTimeout(r, 150 * 3 ** attempt));
    }
  }
}
