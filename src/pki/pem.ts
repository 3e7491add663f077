/** PEM <-> DER with the labels OpenSSL expects. */
export function toPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString("base64");
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** Every PEM block with the given label, in order. Throws when there is none. */
export function pemBlocks(pem: string, label: string): Buffer[] {
  const re = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]*?)-----END ${label}-----`, "g");
  const blocks: Buffer[] = [];
  for (const match of pem.matchAll(re)) blocks.push(Buffer.from((match[1] ?? "").replace(/\s+/g, ""), "base64"));
  return blocks;
}

export function certificatePem(der: Uint8Array): string {
  return toPem(der, "CERTIFICATE");
}
