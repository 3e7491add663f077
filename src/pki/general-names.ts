import { isIP } from "node:net";
import { children, DerError, expectTag, sequence, tlv } from "./der.js";

/** A GeneralName (RFC 5280 §4.2.1.6) as Keyward handles it: the kinds it issues have text values. */
export interface GeneralName {
  type:
    | "dns"
    | "ip"
    | "email"
    | "uri"
    | "otherName"
    | "x400Address"
    | "directoryName"
    | "ediPartyName"
    | "registeredID";
  /** Text for dns/ip/email/uri; hex of the encoded value for the kinds Keyward does not issue. */
  value: string;
}

const CONTEXT_TYPES: GeneralName["type"][] = [
  "otherName",
  "email",
  "dns",
  "x400Address",
  "directoryName",
  "ediPartyName",
  "uri",
  "ip",
  "registeredID",
];

/** Decodes the GeneralNames SEQUENCE (the value of a subjectAltName extension). */
export function decodeGeneralNames(der: Buffer): GeneralName[] {
  const [outer, ...rest] = children(der);
  if (rest.length) throw new DerError("trailing bytes after GeneralNames");
  const names = children(expectTag(outer, 0x30, "a GeneralNames SEQUENCE").content).map((element): GeneralName => {
    const type = CONTEXT_TYPES[element.tag & 0x1f];
    if ((element.tag & 0xc0) !== 0x80 || !type) throw new DerError("a GeneralName with an unknown tag");
    switch (type) {
      case "dns":
      case "email":
      case "uri":
        // IA5String must be ASCII; UTF-8 is read as such so the policy can say what the name should be.
        return { type, value: element.content.toString("utf8") };
      case "ip":
        return { type, value: ipText(element.content) };
      default:
        return { type, value: element.content.toString("hex") };
    }
  });
  if (names.length === 0) throw new DerError("an empty GeneralNames");
  return names;
}

function ipText(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join(".");
  if (bytes.length === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
    return groups.join(":");
  }
  throw new DerError(`an iPAddress of ${bytes.length} bytes (4 or 16 expected)`);
}

/** The 4 or 16 bytes of an IP address in text, or undefined when it is not one. */
export function ipBytes(text: string): number[] | undefined {
  const version = isIP(text);
  if (version === 4) return text.split(".").map(Number);
  if (version !== 6) return undefined;
  // The URL parser writes IPv6 in hex groups only (no dotted IPv4 tail), which is what we split.
  const ip = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  const [head = "", tail = ""] = ip.split("::");
  const parse = (part: string) =>
    part ? part.split(":").flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 255]) : [];
  const h = parse(head);
  const t = parse(tail);
  return [...h, ...new Array(16 - h.length - t.length).fill(0), ...t];
}

/** GeneralNames DER for the names Keyward issues (dns, ip, email, uri). */
export function encodeGeneralNames(names: ReadonlyArray<{ type: string; value: string }>): Buffer {
  return sequence(
    ...names.map((n) => {
      switch (n.type) {
        case "dns":
          return tlv(0x82, Buffer.from(n.value, "latin1"));
        case "email":
          return tlv(0x81, Buffer.from(n.value, "latin1"));
        case "uri":
          return tlv(0x86, Buffer.from(n.value, "latin1"));
        case "ip": {
          const bytes = ipBytes(n.value);
          if (!bytes) throw new DerError(`"${n.value}" is not an IP address`);
          return tlv(0x87, Buffer.from(bytes));
        }
        default:
          throw new DerError(`cannot encode a ${n.type} name`);
      }
    }),
  );
}
