// Feed parameters (feed-params.ts) as docs/feed-provider.md describes them: defaults filled, every bad
// parameter named with what is expected (never its value, which may be a secret), secrets redacted in
// what READ shows and known to the log scrubber, UPDATE merged over the stored config.
// (MQTT defaults, single bad parameters and MQTT redaction are in test/feeds/events.test.ts.)
import { expect } from "chai";
import {
  checkFeedConfig,
  MAX_FIRE_BYTES,
  mergeConfig,
  pickFeedConfig,
  redactConfig,
  secretsOf,
  type FeedConfig,
} from "../../../../feeds/common/feed-params.ts";

const dcache = { kind: "dcache", url: "https://dcache.example.org:3880", paths: ["/data/beamline"] };

function valid(input: unknown): FeedConfig {
  const c = checkFeedConfig(input);
  if (!c.ok) throw new Error(c.error);
  return c.value;
}
function error(input: unknown): string {
  const c = checkFeedConfig(input);
  if (c.ok) throw new Error(`accepted ${JSON.stringify(input)}`);
  return c.error;
}

describe("feeds/common feed parameters: defaults", () => {
  it("a dCache source watches recursively, without enrichment or existing files, unless told", () => {
    const c = valid({ source: dcache });
    expect(c.source).to.deep.equal({ ...dcache, recursive: true, enrich: false, existing: false });
    expect(c.batch).to.deep.equal({ maxEvents: 1000, maxWaitMs: 1000, maxBytes: MAX_FIRE_BYTES });
    expect(MAX_FIRE_BYTES, "below OpenWhisk's 1 MB payload limit, as the kafka provider's 900,000").to.be.below(1_048_576);
    expect(valid({ source: { ...dcache, recursive: false, existing: true } }).source).to.include({ recursive: false, existing: true });
  });

  it("leaves the caller's object alone", () => {
    const input = { source: { ...dcache } };
    valid(input);
    expect(input).to.deep.equal({ source: dcache });
  });
});

describe("feeds/common feed parameters: errors name the parameter", () => {
  it("no parameters at all: says `source` is missing", () => {
    for (const v of [undefined, null, {}]) expect(error(v)).to.match(/missing parameter `source`/);
  });

  it("lists every bad parameter at once", () => {
    const e = error({ source: dcache, batch: { maxEvents: 0, maxWaitMs: -1 }, delivery: { deadLetter: "yes" } });
    expect(e).to.match(/^invalid feed parameters: /);
    expect(e)
      .to.match(/`batch.maxEvents` must be >= 1/)
      .and.match(/`batch.maxWaitMs` must be >= 0/)
      .and.match(/`delivery.deadLetter` must be boolean/);
  });

  it("names bad dCache parameters and says what is expected", () => {
    expect(error({ source: { ...dcache, url: "dcache:3880" } })).to.match(
      /`source.url` is malformed \(.*dCache frontend URL such as https:\/\/dcache:3880\)/,
    );
    expect(error({ source: { ...dcache, paths: ["/data/"] } })).to.match(
      /`source.paths.0` is malformed \(an absolute path .* without a trailing \/\)/,
    );
    expect(error({ source: { ...dcache, paths: [] } })).to.match(/`source.paths` must NOT have fewer than 1 items/);
    expect(error({ source: { ...dcache, flags: ["IN_WRITE"] } })).to.match(/`source.flags.0` must be one of .*"IN_CLOSE_WRITE"/);
    expect(error({ source: { ...dcache, auth: { token: "t", via: "cookie" } } })).to.match(
      /`source.auth.via` must be one of "header", "query"/,
    );
    expect(error({ source: { kind: "mqtt", url: "mqtt://b:1883", topic: "t/#", group: "a/b" } })).to.match(
      /`source.group` is malformed \(a shared-subscription group name without \/, \+, # or spaces\)/,
    );
    expect(error({ source: { kind: "mqtt", url: "mqtt://b:1883", topic: "$SYS/#" } })).to.match(/`source.topic` is malformed/);
    expect(error({ source: dcache, batch: { maxBytes: 100 } })).to.match(/`batch.maxBytes` must be >= 1024/);
    expect(error({ source: dcache, delivery: { maxAgeSeconds: 0 } })).to.match(/`delivery.maxAgeSeconds` must be >= 1/);
  });

  it("never repeats a value in the error: it may be a secret", () => {
    const cases = [
      { source: { kind: "mqtt", url: "http://user:Pa55-s3cret@broker", topic: "t/#", password: "Pa55-s3cret" } },
      { source: { ...dcache, auth: { username: "u", password: "Pa55-s3cret", extra: 1 } } },
      { source: { ...dcache, auth: { token: "Pa55-s3cret", via: "cookie" } } },
      { source: { kind: "mqtt", url: "mqtt://b", topic: "t", password: 1234 }, Pa55_s3cret: "Pa55-s3cret" },
    ];
    for (const c of cases) {
      const e = error(c);
      expect(e, e).to.not.include("Pa55-s3cret");
    }
  });
});

describe("feeds/common feed parameters: secrets", () => {
  it("redacts dCache passwords and tokens, keeping the user name and the rest", () => {
    const basic = valid({ source: { ...dcache, auth: { username: "beamline", password: "Pa55-s3cret" } } });
    const r = redactConfig(basic);
    expect(r.source).to.deep.include({ auth: { username: "beamline", password: "[redacted]" }, url: dcache.url });
    const token = valid({ source: { ...dcache, auth: { token: "eyJhbGciOi.macaroon", via: "query" } } });
    expect(redactConfig(token).source).to.deep.include({ auth: { token: "[redacted]", via: "query" } });
    // the stored config, which the provider still needs, is untouched
    expect(basic.source).to.deep.include({ auth: { username: "beamline", password: "Pa55-s3cret" } });
  });

  it("secretsOf lists exactly the secret strings, for the log scrubber", () => {
    expect(secretsOf(valid({ source: { ...dcache, auth: { username: "beamline", password: "Pa55-s3cret" } } }))).to.deep.equal([
      "Pa55-s3cret",
    ]);
    expect(secretsOf(valid({ source: { ...dcache, auth: { token: "macaroon-xyz" } } }))).to.deep.equal(["macaroon-xyz"]);
    expect(
      secretsOf(valid({ source: { kind: "mqtt", url: "mqtt://b:1883", topic: "t/#", username: "u", password: "mq-pass" } })),
    ).to.deep.equal(["mq-pass"]);
    expect(secretsOf(valid({ source: dcache }))).to.deep.equal([]);
    for (const cfg of [
      valid({ source: { ...dcache, auth: { token: "macaroon-xyz" } } }),
      valid({ source: { kind: "mqtt", url: "mqtt://b:1883", topic: "t/#", password: "mq-pass" } }),
    ])
      for (const s of secretsOf(cfg)) expect(JSON.stringify(redactConfig(cfg))).to.not.include(s);
  });
});

describe("feeds/common feed parameters: lifecycle parameters and UPDATE", () => {
  it("pickFeedConfig leaves out what OpenWhisk and the package send, and __ parameters", () => {
    const picked = pickFeedConfig({
      lifecycleEvent: "CREATE",
      triggerName: "/guest/t",
      authKey: "uuid:key",
      providerUrl: "http://provider:8080",
      providerAuth: "admin:pw",
      __ow_method: "post",
      source: dcache,
      batch: { maxEvents: 5 },
    });
    expect(picked).to.deep.equal({ source: dcache, batch: { maxEvents: 5 } });
  });

  it("mergeConfig merges objects key by key and replaces arrays and scalars whole", () => {
    const base = { source: { ...dcache, paths: ["/a", "/b"] }, batch: { maxEvents: 10, maxWaitMs: 5 } };
    expect(mergeConfig(base, { source: { paths: ["/c"] }, batch: { maxWaitMs: 50 } })).to.deep.equal({
      source: { ...dcache, paths: ["/c"] },
      batch: { maxEvents: 10, maxWaitMs: 50 },
    });
    expect(mergeConfig(base, undefined)).to.deep.equal(base);
    expect(mergeConfig({ a: 1 }, { a: null })).to.deep.equal({ a: null });
  });
});
