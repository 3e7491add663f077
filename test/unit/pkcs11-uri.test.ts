import { describe, expect, it } from "vitest";
import { formatPkcs11Uri, type Pkcs11Uri, parsePkcs11Uri } from "../../src/hsm/uri.js";

describe("formatPkcs11Uri", () => {
  it("writes attributes in a fixed order with lowercase hex id bytes", () => {
    expect(
      formatPkcs11Uri({ type: "private", id: Buffer.from([0x01, 0xab]), object: "root-ca", token: "keyward" }),
    ).toBe("pkcs11:token=keyward;object=root-ca;id=%01%ab;type=private");
  });

  it("writes only the attributes that are set", () => {
    expect(formatPkcs11Uri({})).toBe("pkcs11:");
    expect(formatPkcs11Uri({ object: "k" })).toBe("pkcs11:object=k");
    expect(formatPkcs11Uri({ id: Buffer.alloc(0) })).toBe("pkcs11:id=");
  });

  it("percent-encodes every byte of the id, including printable ones", () => {
    expect(formatPkcs11Uri({ id: Buffer.from("ab") })).toBe("pkcs11:id=%61%62");
    expect(formatPkcs11Uri({ id: Buffer.from([0x00, 0x0f, 0xff]) })).toBe("pkcs11:id=%00%0f%ff");
  });

  it("percent-encodes special characters in labels", () => {
    expect(formatPkcs11Uri({ token: "The Software PKCS#11 Softtoken" })).toBe(
      "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken",
    );
    // Attribute separators and URI delimiters must not appear raw.
    const uri = formatPkcs11Uri({ object: "a;b=c?d/e%f&g" });
    expect(uri).toBe("pkcs11:object=a%3Bb%3Dc%3Fd%2Fe%25f%26g");
    // RFC 3986 sub-delims that encodeURIComponent leaves alone are encoded too.
    expect(formatPkcs11Uri({ object: "it's (a) key*!" })).toBe("pkcs11:object=it%27s%20%28a%29%20key%2A%21");
    // Unreserved characters are left as they are.
    expect(formatPkcs11Uri({ object: "A-z_0.9~" })).toBe("pkcs11:object=A-z_0.9~");
    // Non-ASCII is UTF-8 percent-encoded.
    expect(formatPkcs11Uri({ object: "clé" })).toBe("pkcs11:object=cl%C3%A9");
  });
});

describe("parsePkcs11Uri", () => {
  it("parses the RFC 7512 softtoken example", () => {
    expect(parsePkcs11Uri("pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;object=my-key;type=private")).toEqual({
      token: "The Software PKCS#11 Softtoken",
      object: "my-key",
      type: "private",
    });
  });

  it("parses the RFC 7512 example with an id and ignores attributes it does not use", () => {
    const uri = parsePkcs11Uri(
      "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;" +
        "object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=",
    );
    expect(uri).toEqual({
      token: "The Software PKCS#11 Softtoken",
      object: "my-certificate",
      type: "cert",
      id: Buffer.from([0x69, 0x95, 0x3e, 0x5c, 0xf4, 0xbd, 0xec, 0x91]),
    });
    expect(Object.keys(uri).sort()).toEqual(["id", "object", "token", "type"]);
  });

  it("decodes %25 and %3B inside a value (RFC 7512 substring example)", () => {
    expect(
      parsePkcs11Uri("pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert"),
    ).toEqual({
      token: "A name with a substring %;",
      object: "my-certificate",
      type: "cert",
    });
  });

  it("ignores the query part", () => {
    expect(parsePkcs11Uri("pkcs11:object=my-key;type=private?pin-value=1234&module-name=softhsm2")).toEqual({
      object: "my-key",
      type: "private",
    });
    expect(parsePkcs11Uri("pkcs11:?pin-source=file:/etc/pin")).toEqual({});
  });

  it("accepts every RFC 7512 object type", () => {
    for (const type of ["private", "public", "secret-key", "cert", "data"] as const) {
      expect(parsePkcs11Uri(`pkcs11:type=${type}`)).toEqual({ type });
    }
  });

  it("accepts literal (unencoded) id bytes mixed with %-encoded ones", () => {
    expect(parsePkcs11Uri("pkcs11:id=ab%01")).toEqual({ id: Buffer.from([0x61, 0x62, 0x01]) });
    expect(parsePkcs11Uri("pkcs11:id=%AB%ab")).toEqual({ id: Buffer.from([0xab, 0xab]) });
    expect(parsePkcs11Uri("pkcs11:id=")).toEqual({ id: Buffer.alloc(0) });
  });

  it("skips empty attributes", () => {
    expect(parsePkcs11Uri("pkcs11:")).toEqual({});
    expect(parsePkcs11Uri("pkcs11:;object=k;;")).toEqual({ object: "k" });
  });

  it("keeps '=' inside a value", () => {
    expect(parsePkcs11Uri("pkcs11:object=a=b")).toEqual({ object: "a=b" });
  });

  it("refuses strings that are not pkcs11: URIs", () => {
    for (const text of ["", "token=keyward", "PKCS11:token=keyward", "file:/tmp/key", " pkcs11:token=a", "pkcs11"]) {
      expect(() => parsePkcs11Uri(text), text).toThrow(/not a pkcs11: URI/);
    }
  });

  it("refuses attributes without a value", () => {
    expect(() => parsePkcs11Uri("pkcs11:token")).toThrow(/attribute without a value: "token"/);
  });

  it("refuses bad %-encoding in the id", () => {
    for (const text of ["pkcs11:id=%zz", "pkcs11:id=%1", "pkcs11:id=%", "pkcs11:id=%01%g0", "pkcs11:id=%%41"]) {
      expect(() => parsePkcs11Uri(text), text).toThrow(/id has a bad percent-encoding/);
    }
  });

  it("refuses bad %-encoding in labels", () => {
    expect(() => parsePkcs11Uri("pkcs11:token=%zz")).toThrow();
    expect(() => parsePkcs11Uri("pkcs11:object=%E9")).toThrow();
  });

  it("refuses unknown types", () => {
    expect(() => parsePkcs11Uri("pkcs11:type=secret")).toThrow(/unknown type: "secret"/);
    expect(() => parsePkcs11Uri("pkcs11:type=PRIVATE")).toThrow(/unknown type/);
    expect(() => parsePkcs11Uri("pkcs11:type=")).toThrow(/unknown type/);
  });
});

describe("format/parse round trip", () => {
  const cases: Pkcs11Uri[] = [
    { token: "keyward", object: "root-ca", id: Buffer.from([1, 0xab]), type: "private" },
    { token: "The Software PKCS#11 Softtoken", object: "my-key", type: "public" },
    { object: "a;b=c?d/e%f&g#h 'i' (j) *k* !l! +m+ ,n, :o: @p@ [q] {r}" },
    { token: "clé ünïcödé ☃", object: "日本語" },
    { object: "" },
    { id: Buffer.from(Array.from({ length: 256 }, (_, i) => i)) },
    { type: "secret-key" },
    {},
  ];
  for (const uri of cases) {
    it(`round-trips ${JSON.stringify(uri).slice(0, 60)}`, () => {
      const text = formatPkcs11Uri(uri);
      expect(text.startsWith("pkcs11:")).toBe(true);
      // Nothing that could split attributes or start a query survives unencoded in a value.
      expect(text.slice("pkcs11:".length)).not.toMatch(/[?#\s]/);
      expect(parsePkcs11Uri(text)).toEqual(uri);
      // Formatting is stable.
      expect(formatPkcs11Uri(parsePkcs11Uri(text))).toBe(text);
    });
  }
});
