// Retry timing (backoff.ts): exponential growth from baseMs, capped at maxMs, with jitter drawn from
// the upper half of the ceiling; never earlier than the server's Retry-After, which RFC 9110 §10.2.3
// defines as delay-seconds or an HTTP-date (§5.6.7: a recipient must accept all three date formats,
// all of them in GMT).
import { expect } from "chai";
import { backoffDelay, parseRetryAfter } from "../../../../../feeds/provider/pipeline/backoff.ts";

const policy = { baseMs: 100, maxMs: 5_000 };
const low = () => 0;
const high = () => 0.999_999;

describe("feeds/provider backoff: retry delays", () => {
  it("doubles the ceiling with every attempt, starting at baseMs", () => {
    const ceilings = [1, 2, 3, 4, 5].map((n) => backoffDelay(n, policy, undefined, () => 1));
    expect(ceilings).to.deep.equal([100, 200, 400, 800, 1600]);
  });

  it("draws each delay from [ceiling/2, ceiling], so retries spread out but keep growing", () => {
    for (let n = 1; n <= 6; n++) {
      const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** (n - 1));
      expect(backoffDelay(n, policy, undefined, low), `attempt ${n}, random 0`).to.equal(ceiling / 2);
      expect(backoffDelay(n, policy, undefined, high), `attempt ${n}, random→1`).to.be.closeTo(ceiling, 0.01);
      expect(backoffDelay(n, policy, undefined, () => 0.5)).to.equal((3 * ceiling) / 4);
    }
    // the slowest draw of one attempt is no sooner than the fastest of the previous one
    for (let n = 2; n <= 6; n++)
      expect(backoffDelay(n, policy, undefined, low)).to.be.at.least(backoffDelay(n - 1, policy, undefined, high) / 2);
  });

  it("never exceeds maxMs, even after very many attempts", () => {
    for (const n of [7, 10, 31, 100, 10_000]) {
      const d = backoffDelay(n, policy, undefined, high);
      expect(d, `attempt ${n}`)
        .to.be.at.most(policy.maxMs)
        .and.at.least(policy.maxMs / 2);
      expect(Number.isFinite(d)).to.equal(true);
    }
  });

  it("waits at least as long as the server's Retry-After, even past maxMs", () => {
    expect(backoffDelay(1, policy, 30_000, low)).to.equal(30_000);
    expect(backoffDelay(1, policy, 10, low)).to.equal(50);
    expect(backoffDelay(1, policy, 0, high)).to.be.closeTo(100, 0.01);
  });

  it("uses Math.random when no source of randomness is given", () => {
    for (let i = 0; i < 50; i++) expect(backoffDelay(3, policy)).to.be.within(200, 400);
  });
});

describe("feeds/provider backoff: Retry-After (RFC 9110 §10.2.3)", () => {
  const now = Date.UTC(1994, 10, 6, 8, 49, 0); // Sun, 06 Nov 1994 08:49:00 GMT

  it("reads delay-seconds", () => {
    expect(parseRetryAfter("120", now)).to.equal(120_000);
    expect(parseRetryAfter("0", now)).to.equal(0);
    expect(parseRetryAfter(" 5 ", now)).to.equal(5_000);
  });

  it("reads an HTTP-date in all three formats as the time left until it", () => {
    expect(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now)).to.equal(37_000); // IMF-fixdate
    expect(parseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", now)).to.equal(37_000); // obsolete RFC 850
    expect(parseRetryAfter("Sun Nov  6 08:49:37 1994", now)).to.equal(37_000); // obsolete asctime
  });

  it("reads a two-digit RFC 850 year as the nearest one not more than 50 years ahead", () => {
    const in2026 = Date.UTC(2026, 11, 1, 0, 0, 0);
    expect(parseRetryAfter("Tuesday, 01-Dec-26 00:00:10 GMT", in2026)).to.equal(10_000);
    expect(parseRetryAfter("Sunday, 01-Dec-30 00:00:00 GMT", in2026)).to.equal(Date.UTC(2030, 11, 1) - in2026);
    expect(parseRetryAfter("Wednesday, 01-Dec-99 00:00:00 GMT", in2026), "1999: past").to.equal(0);
  });

  it("reads an asctime date as GMT whatever the provider's local time zone", () => {
    const tz = process.env.TZ;
    try {
      for (const zone of ["America/New_York", "Asia/Tokyo"]) {
        process.env.TZ = zone;
        expect(parseRetryAfter("Sun Nov  6 08:49:37 1994", now), zone).to.equal(37_000);
        expect(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now), zone).to.equal(37_000);
      }
    } finally {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
    }
  });

  it("a date already past means no wait", () => {
    expect(parseRetryAfter("Sun, 06 Nov 1994 08:48:00 GMT", now)).to.equal(0);
  });

  it("is undefined when absent or unreadable", () => {
    for (const v of [
      undefined,
      null,
      "",
      "   ",
      "soon",
      "-5",
      "1.5",
      "12 s",
      "Sun, 99 Nov 1994 08:49:37 GMT",
      "Sat, 31 Feb 1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 25:00:00 GMT",
      "Sun, 06 Nov 1994 08:49:37 CET",
    ])
      expect(parseRetryAfter(v, now), String(v)).to.equal(undefined);
  });
});
