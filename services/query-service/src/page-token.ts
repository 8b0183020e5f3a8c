import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { ValidationError } from "@orderly/eventsourcing";

/**
 * Opaque, tamper-evident page tokens: `base64url(cursor) "." base64url(hmac)`, where the HMAC-SHA256 covers a
 * version, the customer id, the page size and the reader's cursor. A token edited by hand, or used for another
 * customer or another page size, fails verification (INVALID_ARGUMENT). The reader's cursor itself is keyset-based,
 * so a token stays valid and stable while new orders arrive.
 */
export class PageTokens {
  private readonly key: Buffer;

  /** `secret` must be shared by every replica; a random one is fine for a single process. */
  constructor(secret?: string | Buffer) {
    this.key = secret === undefined ? randomBytes(32) : Buffer.from(secret);
    if (this.key.length < 16) throw new Error("page token secret must be at least 16 bytes");
  }

  encode(cursor: string, binding: PageBinding): string {
    const body = Buffer.from(cursor, "utf8").toString("base64url");
    return `${body}.${this.sign(cursor, binding).toString("base64url")}`;
  }

  /** The reader's cursor inside `token`, or a ValidationError on `page_token`. */
  decode(token: string, binding: PageBinding): string {
    const invalid = () => new ValidationError("page_token", "invalid page token (tampered, or from another request)");
    if (token.length > 4096) throw invalid();
    const dot = token.indexOf(".");
    if (dot <= 0 || dot !== token.lastIndexOf(".")) throw invalid();
    const body = token.slice(0, dot);
    const mac = token.slice(dot + 1);
    if (!base64url.test(body) || !base64url.test(mac)) throw invalid();
    const cursor = Buffer.from(body, "base64url").toString("utf8");
    // Reject non-canonical encodings too: the token must be exactly what `encode` produced.
    if (Buffer.from(cursor, "utf8").toString("base64url") !== body) throw invalid();
    const given = Buffer.from(mac, "base64url");
    if (given.toString("base64url") !== mac) throw invalid();
    const expected = this.sign(cursor, binding);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid();
    return cursor;
  }

  private sign(cursor: string, binding: PageBinding): Buffer {
    return createHmac("sha256", this.key)
      .update(JSON.stringify(["v1", binding.customerId, binding.pageSize, cursor]))
      .digest();
  }
}

export interface PageBinding {
  readonly customerId: string;
  readonly pageSize: number;
}

const base64url = /^[A-Za-z0-9_-]+$/;
