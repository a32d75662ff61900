// Credentials at rest (OpenWhisk keys, MQTT passwords, dCache tokens) are sealed with AES-256-GCM
// under the provider key. The registration id is bound in as associated data, so a sealed blob copied
// onto another registration's row does not open.
import { createCipheriv, createDecipheriv, createHash, randomBytes, scryptSync } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const VERSION = "v1";

export class SecretBox {
  /** keys being rotated out: they still open credentials, which are then sealed again under `key` */
  private previous: SecretBox[] = [];

  private constructor(private readonly key: Buffer) {}

  /** The same box that also opens what `older` keys sealed (key rotation). */
  withPrevious(older: SecretBox[]): SecretBox {
    const b = new SecretBox(this.key);
    b.previous = older.filter((o) => !o.key.equals(this.key));
    return b;
  }

  /** True when `sealed` opens only with a previous key: it should be sealed again under the current one. */
  needsReseal(sealed: string, context: string): boolean {
    if (this.previous.length === 0) return false;
    try {
      this.openWithKey(sealed, context);
      return false;
    } catch {
      return this.previous.some((p) => {
        try {
          p.openWithKey(sealed, context);
          return true;
        } catch {
          return false;
        }
      });
    }
  }

  /**
   * A 32-byte key given as 64 hex digits or base64, or any other string as a passphrase (stretched
   * with scrypt so a short passphrase is not used as a raw key).
   */
  static fromString(material: string): SecretBox {
    const m = material.trim();
    if (/^[0-9a-fA-F]{64}$/.test(m)) return new SecretBox(Buffer.from(m, "hex"));
    const b = Buffer.from(m, "base64");
    if (b.length === 32 && /^[A-Za-z0-9+/]{43}=?$/.test(m)) return new SecretBox(b);
    if (m.length < 16)
      throw new Error("the provider key is too short: give 32 bytes as 64 hex digits or base64, or a passphrase of at least 16 characters");
    return new SecretBox(scryptSync(m, "storage-events-feed-provider", 32));
  }

  /** The key from the key file in the data directory, created (mode 0600) on first start. */
  static fromDataDir(dir: string): SecretBox {
    const file = join(dir, "provider.key");
    if (!existsSync(file)) writeFileSync(file, `${randomBytes(32).toString("hex")}\n`, { mode: 0o600, flag: "wx" });
    return SecretBox.fromString(readFileSync(file, "utf8"));
  }

  /** A short, non-reversible fingerprint of the key, for telling keys apart in logs. */
  fingerprint(): string {
    return createHash("sha256").update(this.key).digest("hex").slice(0, 8);
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", this.key, iv);
    c.setAAD(Buffer.from(context));
    const body = Buffer.concat([c.update(plaintext, "utf8"), c.final()]);
    return `${VERSION}:${Buffer.concat([iv, c.getAuthTag(), body]).toString("base64")}`;
  }

  open(sealed: string, context: string): string {
    try {
      return this.openWithKey(sealed, context);
    } catch (e) {
      for (const p of this.previous) {
        try {
          return p.openWithKey(sealed, context);
        } catch {
          // try the next one
        }
      }
      throw e;
    }
  }

  private openWithKey(sealed: string, context: string): string {
    if (!sealed.startsWith(`${VERSION}:`)) throw new Error("sealed credentials have an unknown format");
    const raw = Buffer.from(sealed.slice(VERSION.length + 1), "base64");
    const d = createDecipheriv("aes-256-gcm", this.key, raw.subarray(0, 12));
    d.setAAD(Buffer.from(context));
    d.setAuthTag(raw.subarray(12, 28));
    try {
      return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString("utf8");
    } catch {
      throw new Error("stored credentials cannot be decrypted: the provider key differs from the one they were sealed with");
    }
  }
}
