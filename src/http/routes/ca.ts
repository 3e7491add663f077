import { Router } from "express";
import { NotFoundError } from "../../errors/index.js";
import { certificatePem } from "../../pki/pem.js";
import type { CertificateAuthority } from "../../signer/index.js";

export interface CaRouteDeps {
  ca: Pick<CertificateAuthority, "root" | "defaultIssuer" | "chain" | "get">;
}

const pem = (certs: Array<{ rawData: ArrayBuffer }>) =>
  certs.map((c) => certificatePem(new Uint8Array(c.rawData))).join("");

/** Public CA material: the trust anchor, the issuing chain and each CA certificate (caIssuers). */
export function caRoutes(deps: CaRouteDeps): Router {
  const router = Router();
  const cache = "public, max-age=300";

  router.get("/ca/root.pem", async (_req, res) => {
    const root = await deps.ca.root();
    res.type("application/x-pem-file").setHeader("Cache-Control", cache).send(certificatePem(root.certificate));
  });

  // The default issuer's chain, leaf issuer first, without the root (clients get it from root.pem).
  router.get("/ca/chain.pem", async (_req, res) => {
    const issuer = await deps.ca.defaultIssuer();
    const chain = await deps.ca.chain(issuer.id);
    res
      .type("application/x-pem-file")
      .setHeader("Cache-Control", cache)
      .send(pem(chain.slice(0, -1)));
  });

  router.get("/ca/:file", async (req, res) => {
    const match = /^([a-z0-9][a-z0-9-]{0,62})\.(crt|pem)$/.exec(req.params.file);
    if (!match) throw new NotFoundError(`no CA certificate at ${req.path}`);
    const ca = await deps.ca.get(match[1]!);
    res.setHeader("Cache-Control", cache);
    if (match[2] === "crt") res.type("application/pkix-cert").send(ca.certificate);
    else res.type("application/x-pem-file").send(certificatePem(ca.certificate));
  });

  return router;
}
