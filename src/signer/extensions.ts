import { AsnConvert } from "@peculiar/asn1-schema";
import {
  GeneralName,
  GeneralSubtree,
  GeneralSubtrees,
  id_ce_nameConstraints,
  NameConstraints,
} from "@peculiar/asn1-x509";
import * as x509 from "@peculiar/x509";
import type { NameConstraintsSettings } from "../config/schema.js";

/** RFC 5280 §4.2.1.10 name constraints, critical as the RFC requires. */
export function nameConstraintsExtension(settings: NameConstraintsSettings): x509.Extension | undefined {
  const subtrees = (dns: string[], ip: string[], email: string[]) => {
    const names = [
      ...dns.map((d) => new GeneralName({ dNSName: d })),
      ...ip.map((i) => new GeneralName({ iPAddress: i })),
      ...email.map((e) => new GeneralName({ rfc822Name: e })),
    ];
    return names.length ? new GeneralSubtrees(names.map((base) => new GeneralSubtree({ base }))) : undefined;
  };
  const permitted = subtrees(settings.permittedDns, settings.permittedIp, settings.permittedEmail);
  const excluded = subtrees(settings.excludedDns, settings.excludedIp, settings.excludedEmail);
  if (!permitted && !excluded) return undefined;
  const value = new NameConstraints({ permittedSubtrees: permitted, excludedSubtrees: excluded });
  return new x509.Extension(id_ce_nameConstraints, true, AsnConvert.serialize(value));
}

/** The subject key identifier of a certificate, as hex, or undefined when it has none. */
export function subjectKeyIdentifier(cert: x509.X509Certificate): string | undefined {
  return cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
}
