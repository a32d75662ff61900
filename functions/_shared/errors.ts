// Turns low-level failures into messages that say what was wrong and what to do.

/** A failure the caller should see as the action's `{error}`; never carries secrets. */
export class ActionError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
  }
}

/** Describes a fetch() failure (no answer at all) for the service `what` at `url`. */
export function unreachable(what: string, url: string, param: string, e: unknown): ActionError {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = err.cause?.code ?? "";
  const why =
    err.name === "TimeoutError" || err.name === "AbortError" ? "no answer before the timeout"
    : code === "ECONNREFUSED" ? "connection refused"
    : code === "ENOTFOUND" ? "host not found"
    : err.cause?.message ?? err.message ?? String(e);
  return new ActionError(`cannot reach ${what} at ${safeUrl(url)} (${why}); check that it runs and that parameter ${param} is right`);
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
export async function bodyExcerpt(res: Response): Promise<string> {
  try {
    const text = (await res.text()).trim();
    try {
      const j = JSON.parse(text) as Record<string, unknown>;
      const m = j.message ?? j.error ?? j.ExceptionMessage ?? j.errors;
      if (m) return (typeof m === "string" ? m : JSON.stringify(m)).slice(0, 300);
    } catch { /* not JSON */ }
    return text.slice(0, 300);
  } catch {
    return "";
  }
}
