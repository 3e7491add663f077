import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  base32Decode,
  base32Encode,
  generateTotpSecret,
  otpauthUri,
  totpCode,
  totpQrForTerminal,
  totpStep,
  verifyTotp,
  verifyTotpWithMac,
} from "../../src/access/totp.js";
import { BadRequestError } from "../../src/errors/index.js";

const RFC_SECRET = Buffer.from("12345678901234567890", "ascii");
const at = (unixSeconds: number): Date => new Date(unixSeconds * 1000);

describe("totpCode", () => {
  // RFC 6238 Appendix B, SHA-1 column.
  it.each([
    [59, "94287082"],
    [1111111109, "07081804"],
    [1111111111, "14050471"],
    [1234567890, "89005924"],
    [2000000000, "69279037"],
    [20000000000, "65353130"],
  ])("matches the RFC 6238 vector at T=%i", (seconds, expected) => {
    expect(totpCode(RFC_SECRET, at(seconds), { digits: 8 })).toBe(expected);
  });

  it("defaults to 6 digits, the last six of the 8-digit code (RFC 4226 truncation)", () => {
    expect(totpCode(RFC_SECRET, at(59))).toBe("287082");
    expect(totpCode(RFC_SECRET, at(1111111109))).toBe("081804");
  });

  it("is constant within a 30 s step and changes at the boundary", () => {
    expect(totpCode(RFC_SECRET, at(60))).toBe(totpCode(RFC_SECRET, at(89)));
    expect(totpCode(RFC_SECRET, at(89))).not.toBe(totpCode(RFC_SECRET, at(90)));
    expect(totpStep(at(89))).toBe(2);
    expect(totpStep(at(90))).toBe(3);
  });

  it("refuses unsupported digit counts and times before the epoch", () => {
    expect(() => totpCode(RFC_SECRET, at(59), { digits: 5 as 6 })).toThrow(BadRequestError);
    expect(() => totpCode(RFC_SECRET, at(-60))).toThrow(BadRequestError);
  });
});

describe("verifyTotp", () => {
  const secret = generateTotpSecret();
  const now = at(1_700_000_000);
  const step = totpStep(now);

  it("generates 20-byte random secrets", () => {
    expect(secret).toHaveLength(20);
    expect(generateTotpSecret().equals(secret)).toBe(false);
  });

  it("accepts the current code and reports its step", () => {
    expect(verifyTotp(secret, totpCode(secret, now), now)).toEqual({ ok: true, step });
  });

  it("accepts codes one step either side by default, but not two", () => {
    const previous = totpCode(secret, at(1_700_000_000 - 30));
    const next = totpCode(secret, at(1_700_000_000 + 30));
    const tooOld = totpCode(secret, at(1_700_000_000 - 60));
    expect(verifyTotp(secret, previous, now)).toEqual({ ok: true, step: step - 1 });
    expect(verifyTotp(secret, next, now)).toEqual({ ok: true, step: step + 1 });
    expect(verifyTotp(secret, tooOld, now)).toEqual({ ok: false });
  });

  it("honours a wider or zero window", () => {
    const tooOld = totpCode(secret, at(1_700_000_000 - 60));
    const previous = totpCode(secret, at(1_700_000_000 - 30));
    expect(verifyTotp(secret, tooOld, now, { window: 2 })).toEqual({ ok: true, step: step - 2 });
    expect(verifyTotp(secret, previous, now, { window: 0 })).toEqual({ ok: false });
    expect(() => verifyTotp(secret, previous, now, { window: -1 })).toThrow(BadRequestError);
  });

  it("rejects a replayed code and anything from an earlier step", () => {
    const code = totpCode(secret, now);
    const first = verifyTotp(secret, code, now);
    expect(first.ok).toBe(true);
    const lastUsedStep = first.ok ? first.step : -1;
    expect(verifyTotp(secret, code, now, { lastUsedStep })).toEqual({ ok: false });
    const previous = totpCode(secret, at(1_700_000_000 - 30));
    expect(verifyTotp(secret, previous, now, { lastUsedStep })).toEqual({ ok: false });
    // The next step's code is still fresh.
    const next = totpCode(secret, at(1_700_000_000 + 30));
    expect(verifyTotp(secret, next, now, { lastUsedStep })).toEqual({ ok: true, step: step + 1 });
  });

  it("rejects a wrong code", () => {
    const code = totpCode(secret, now);
    const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, "0");
    expect(verifyTotp(secret, wrong, now, { window: 0 })).toEqual({ ok: false });
  });

  it("rejects codes that are not exactly six digits", () => {
    const code = totpCode(secret, now);
    for (const bad of [
      "",
      code.slice(0, 5),
      code + "0",
      ` ${code}`,
      `${code.slice(0, 3)} ${code.slice(3)}`,
      "12a456",
    ]) {
      expect(verifyTotp(secret, bad, now)).toEqual({ ok: false });
    }
    // Sanity: the untouched code is accepted, so the rejections above are about the format.
    expect(verifyTotp(secret, code, now).ok).toBe(true);
  });

  it("verifies 8-digit codes when asked to", () => {
    expect(verifyTotp(RFC_SECRET, "94287082", at(59), { digits: 8 })).toEqual({ ok: true, step: 1 });
    expect(verifyTotp(RFC_SECRET, "287082", at(59), { digits: 8 })).toEqual({ ok: false });
  });
});

describe("base32", () => {
  // RFC 4648 §10, padding stripped.
  it.each([
    ["", ""],
    ["f", "MY"],
    ["fo", "MZXQ"],
    ["foo", "MZXW6"],
    ["foob", "MZXW6YQ"],
    ["fooba", "MZXW6YTB"],
    ["foobar", "MZXW6YTBOI"],
  ])("encodes %j as %j and back", (plain, encoded) => {
    expect(base32Encode(Buffer.from(plain, "ascii"))).toBe(encoded);
    expect(base32Decode(encoded).toString("ascii")).toBe(plain);
  });

  it("decodes lowercase and padded input", () => {
    expect(base32Decode("mzxw6ytboi======").toString("ascii")).toBe("foobar");
  });

  it("round-trips random secrets", () => {
    for (let i = 0; i < 20; i++) {
      const secret = generateTotpSecret();
      expect(base32Decode(base32Encode(secret)).equals(secret)).toBe(true);
    }
  });

  it("refuses characters outside the alphabet and impossible lengths", () => {
    expect(() => base32Decode("MZXW6YTB01")).toThrow(BadRequestError);
    expect(() => base32Decode("MZX")).toThrow(BadRequestError);
  });
});

describe("otpauthUri", () => {
  const secret = Buffer.from("12345678901234567890", "ascii");

  it("produces a key URI that parses back to its parts", () => {
    const uri = otpauthUri({ issuer: "Keyward", account: "alice@example.com", secret });
    expect(uri).toBe(
      "otpauth://totp/Keyward:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Keyward&algorithm=SHA1&digits=6&period=30",
    );
    const url = new URL(uri);
    expect(url.protocol).toBe("otpauth:");
    expect(url.host).toBe("totp");
    expect(decodeURIComponent(url.pathname)).toBe("/Keyward:alice@example.com");
    expect(url.searchParams.get("secret")).toBe(base32Encode(secret));
    expect(base32Decode(url.searchParams.get("secret")!).equals(secret)).toBe(true);
    expect(url.searchParams.get("issuer")).toBe("Keyward");
    expect(url.searchParams.get("algorithm")).toBe("SHA1");
    expect(url.searchParams.get("digits")).toBe("6");
    expect(url.searchParams.get("period")).toBe("30");
  });

  it("defaults the issuer to Keyward and percent-encodes spaces and reserved characters", () => {
    const uri = otpauthUri({ account: "Bob Smith&co", secret });
    expect(uri.startsWith("otpauth://totp/Keyward:Bob%20Smith%26co?")).toBe(true);
    expect(otpauthUri({ issuer: "Acme Corp", account: "bob", secret })).toContain("&issuer=Acme%20Corp&");
    const url = new URL(uri);
    expect(url.searchParams.get("issuer")).toBe("Keyward");
    expect([...url.searchParams.keys()]).toEqual(["secret", "issuer", "algorithm", "digits", "period"]);
  });

  it("refuses colons in the issuer or account", () => {
    expect(() => otpauthUri({ issuer: "Key:ward", account: "alice", secret })).toThrow(BadRequestError);
    expect(() => otpauthUri({ account: "a:lice", secret })).toThrow(BadRequestError);
  });
});

describe("totpQrForTerminal", () => {
  it("renders a non-empty multi-line QR code", async () => {
    const uri = otpauthUri({ account: "alice@example.com", secret: generateTotpSecret() });
    const qr = await totpQrForTerminal(uri);
    expect(qr.trim().length).toBeGreaterThan(0);
    const lines = qr.split("\n").filter((line) => line.length > 0);
    expect(lines.length).toBeGreaterThan(10);
  });
});

describe("verifyTotpWithMac (seed kept in the HSM)", () => {
  const secret = Buffer.from("12345678901234567890", "ascii");
  const mac = async (counter: Buffer) => createHmac("sha1", secret).update(counter).digest();
  const now = new Date(1_111_111_109_000);

  it("accepts the code the seed gives now and one step either side, and reports the step", async () => {
    const step = Math.floor(now.getTime() / 30_000);
    for (const offset of [-1, 0, 1]) {
      const code = totpCode(secret, new Date(now.getTime() + offset * 30_000));
      expect(await verifyTotpWithMac(mac, code, now)).toEqual({ ok: true, step: step + offset });
    }
    expect((await verifyTotpWithMac(mac, totpCode(secret, new Date(now.getTime() + 60_000)), now)).ok).toBe(false);
  });

  it("refuses a used step, a wrong code and anything but six digits", async () => {
    const code = totpCode(secret, now);
    const step = Math.floor(now.getTime() / 30_000);
    expect((await verifyTotpWithMac(mac, code, now, { lastUsedStep: step })).ok).toBe(false);
    expect((await verifyTotpWithMac(mac, code === "000000" ? "000001" : "000000", now)).ok).toBe(false);
    expect((await verifyTotpWithMac(mac, `${code}0`, now)).ok).toBe(false);
    expect((await verifyTotpWithMac(mac, "12345a", now)).ok).toBe(false);
  });
});
