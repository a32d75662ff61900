// Retry timing: exponential backoff with jitter, never earlier than the server's Retry-After.
export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

/**
 * Delay before retry number `attempt` (1-based): half of base·2^(attempt−1) (capped at maxMs) plus a
 * random part up to the other half, so retries spread out but keep growing.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, retryAfterMs?: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(30, attempt - 1));
  const jittered = ceiling / 2 + random() * (ceiling / 2);
  return Math.max(jittered, retryAfterMs ?? 0);
}

/** Retry-After as delta-seconds or HTTP-date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = parseHttpDate(v);
  return t === undefined ? undefined : Math.max(0, t - now);
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const M = MONTHS.join("|");
// RFC 9110 §5.6.7: IMF-fixdate, and the obsolete RFC 850 and asctime forms a recipient must also
// accept, all in GMT. Not Date.parse: it takes many other strings for dates ("-5" is a day in 2001)
// and reads asctime, which names no zone, in the local time zone.
const IMF_FIXDATE = new RegExp(`^[A-Z][a-z]{2}, (?<day>\\d{2}) (?<mon>${M}) (?<year>\\d{4}) (?<time>\\d{2}:\\d{2}:\\d{2}) GMT$`);
const RFC850 = new RegExp(`^[A-Z][a-z]+, (?<day>\\d{2})-(?<mon>${M})-(?<yy>\\d{2}) (?<time>\\d{2}:\\d{2}:\\d{2}) GMT$`);
const ASCTIME = new RegExp(`^[A-Z][a-z]{2} (?<mon>${M}) (?<day>[ \\d]\\d) (?<time>\\d{2}:\\d{2}:\\d{2}) (?<year>\\d{4})$`);

/** Epoch ms of an HTTP-date, or undefined when it is none or names no real time. */
function parseHttpDate(v: string): number | undefined {
  const g = (IMF_FIXDATE.exec(v) ?? RFC850.exec(v) ?? ASCTIME.exec(v))?.groups;
  if (!g) return undefined;
  const day = Number(g.day);
  const [h, m, s] = g.time!.split(":").map(Number) as [number, number, number];
  let year = Number(g.year);
  if (g.yy !== undefined) {
    // a two-digit year more than 50 years ahead is in the past century (§5.6.7)
    const now = new Date().getUTCFullYear();
    year = now - (now % 100) + Number(g.yy);
    if (year > now + 50) year -= 100;
  }
  const t = Date.UTC(year, MONTHS.indexOf(g.mon!), day, h, m, s);
  const d = new Date(t);
  // Date.UTC rolls 31 Feb over into March and 25:00 into the next day: such a date is unreadable
  if (d.getUTCDate() !== day || d.getUTCHours() !== h || d.getUTCMinutes() !== m || d.getUTCSeconds() !== s) return undefined;
  return t;
}
