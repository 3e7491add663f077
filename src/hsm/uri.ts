/**
 * RFC 7512 PKCS#11 URIs, limited to the path attributes Keyward uses to name keys:
 * `pkcs11:token=keyward;object=root-ca;id=%01%ab;type=private`.
 */
export interface Pkcs11Uri {
  token?: string;
  object?: string;
  id?: Buffer;
  type?: "private" | "public" | "secret-key" | "cert" | "data";
}

const TYPES = new Set(["private", "public", "secret-key", "cert", "data"]);

/** RFC 7512 §2.3: everything outside unreserved and a few path characters is percent-encoded. */
function encodeValue(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function formatPkcs11Uri(uri: Pkcs11Uri): string {
  const parts: string[] = [];
  if (uri.token !== undefined) parts.push(`token=${encodeValue(uri.token)}`);
  if (uri.object !== undefined) parts.push(`object=${encodeValue(uri.object)}`);
  if (uri.id !== undefined) parts.push(`id=${[...uri.id].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("")}`);
  if (uri.type !== undefined) parts.push(`type=${uri.type}`);
  return `pkcs11:${parts.join(";")}`;
}

export function parsePkcs11Uri(text: string): Pkcs11Uri {
  if (!text.startsWith("pkcs11:")) throw new Error(`not a pkcs11: URI: ${JSON.stringify(text.slice(0, 40))}`);
  const path = text.slice("pkcs11:".length).split("?")[0] ?? "";
  const uri: Pkcs11Uri = {};
  for (const attr of path.split(";")) {
    if (attr === "") continue;
    const eq = attr.indexOf("=");
    if (eq < 0) throw new Error(`pkcs11: URI attribute without a value: ${JSON.stringify(attr)}`);
    const name = attr.slice(0, eq);
    const raw = attr.slice(eq + 1);
    switch (name) {
      case "token":
        uri.token = decodeURIComponent(raw);
        break;
      case "object":
        uri.object = decodeURIComponent(raw);
        break;
      case "id":
        uri.id = percentDecodeBytes(raw);
        break;
      case "type":
        if (!TYPES.has(raw)) throw new Error(`pkcs11: URI has an unknown type: ${JSON.stringify(raw)}`);
        uri.type = raw as Pkcs11Uri["type"];
        break;
      default:
        // Other RFC 7512 attributes (manufacturer, serial, model, slot-*) do not narrow our search.
        break;
    }
  }
  return uri;
}

function percentDecodeBytes(raw: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === "%") {
      const hex = raw.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new Error("pkcs11: URI id has a bad percent-encoding");
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(raw.charCodeAt(i));
    }
  }
  return Buffer.from(bytes);
}
