import { z } from "zod";
import { ForbiddenError } from "../../errors/index.js";
import {
  distributionView,
  isKeyPair,
  KEY_ALGORITHMS,
  KEY_PURPOSES,
  type KeyCertification,
  type KeyCrypto,
  type KeyDistribution,
  type KeyImport,
  type KeyLifecycle,
  type KeyPairCrypto,
  keyView,
  type ManagedKey,
  PUBLIC_KEY_FORMATS,
  RECIPIENT_POLICIES,
} from "../../keys/index.js";
import { certificatePem } from "../../pki/pem.js";
import { actorOf, principalOf } from "../middleware.js";
import { parseInput } from "../validate.js";
import type { ApiResponse } from "../api-request.js";
import { type ApiRoute, type ApprovalDeps, runOrRequestApproval } from "./api-route.js";

const base64 = z
  .string()
  .max(1_400_000)
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, "base64");
const context = z.record(z.string().max(128), z.string().max(1024)).optional();

const CreateKeyBody = z
  .object({
    name: z.string().min(1).max(64),
    algorithm: z.enum(KEY_ALGORITHMS).default("AES-256"),
    purpose: z.enum(KEY_PURPOSES).optional(),
    distributable: z.boolean().default(false),
    rotationDays: z.number().int().min(1).max(3650).optional(),
    cryptoperiodDays: z.number().int().min(1).max(3650).optional(),
    tags: z.array(z.string().min(1).max(64)).max(50).optional(),
    onRecipientRevoked: z.enum(RECIPIENT_POLICIES).optional(),
    activateAt: z.iso.datetime({ offset: true }).optional(),
    deactivateAt: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();
const ImportBody = z.object({ format: z.enum(["cms", "jwe"]), data: z.string().min(1).max(100_000) }).strict();
const PolicyBody = z.object({ onRecipientRevoked: z.enum(RECIPIENT_POLICIES) }).strict();
const DistributeBody = z
  .object({
    certificate: z.string().min(1).max(20_000),
    format: z.enum(["cms", "jwe"]),
    version: z.number().int().min(1).optional(),
  })
  .strict();
const StateBody = z
  .object({
    state: z.enum(["active", "suspended", "deactivated"]),
    version: z.number().int().min(1).optional(),
    reason: z.string().max(500).optional(),
  })
  .strict();
const CompromiseBody = z
  .object({ version: z.number().int().min(1).optional(), reason: z.string().min(1).max(500) })
  .strict();
const EncryptBody = z.object({ plaintext: base64, context }).strict();
const DecryptBody = z
  .object({
    ciphertext: z.string().min(1).max(2_000_000),
    context,
    override: z
      .object({ reason: z.string().min(1).max(500) })
      .strict()
      .optional(),
  })
  .strict();
const DataKeyBody = z.object({ bytes: z.union([z.literal(16), z.literal(32)]).default(32), context }).strict();
const MacBody = z.object({ data: base64 }).strict();
const VerifyBody = z
  .object({ data: base64, mac: z.string().min(1).max(200), version: z.number().int().min(1) })
  .strict();
const VersionParam = z.coerce.number().int().min(1);
const PublicKeyQuery = z
  .object({ version: z.coerce.number().int().min(1).optional(), format: z.enum(PUBLIC_KEY_FORMATS).default("pem") })
  .strict();
/** The message whole (base64) or, for ECDSA and RSA, its digest: exactly one. */
const signed = {
  message: base64.optional(),
  digest: base64.max(100).optional(),
  algorithm: z.string().min(1).max(20).optional(),
  version: z.number().int().min(1).optional(),
};
const oneInput = (b: { message?: string; digest?: string }) => (b.message === undefined) !== (b.digest === undefined);
const ONE_INPUT = { message: "give exactly one of message and digest (base64)" };
const SignBody = z.object(signed).strict().refine(oneInput, ONE_INPUT);
const SignatureVerifyBody = z
  .object({ ...signed, signature: base64.min(1).max(2000) })
  .strict()
  .refine(oneInput, ONE_INPUT);
const SignJwsBody = z
  .object({
    payload: z.union([base64, z.record(z.string(), z.unknown())]),
    header: z.record(z.string().max(64), z.unknown()).optional(),
    algorithm: z.string().min(1).max(20).optional(),
  })
  .strict();
const KeyPairDecryptBody = z
  .object({
    ciphertext: base64.min(1).max(1000),
    algorithm: z.string().min(1).max(20).optional(),
    version: z.number().int().min(1).optional(),
  })
  .strict();
const SignCmsBody = z.object({ content: base64, detached: z.boolean().default(true) }).strict();
const CertifyBody = z
  .object({
    profile: z.string().min(1).max(64),
    subject: z.string().min(1).max(64).optional(),
    sans: z
      .array(z.object({ type: z.enum(["dns", "email", "uri", "ip"]), value: z.string().min(1).max(253) }).strict())
      .max(20)
      .optional(),
    version: z.number().int().min(1).optional(),
    certifyOnRotate: z.boolean().optional(),
  })
  .strict();
const b64 = (text: string | undefined) => (text === undefined ? undefined : Buffer.from(text, "base64"));
/** The message or digest of a sign/verify body as bytes. */
const signInput = (body: { message?: string; digest?: string }) =>
  body.digest !== undefined ? { digest: b64(body.digest)! } : { message: b64(body.message)! };

export interface KeyRouteDeps extends ApprovalDeps {
  keys: Pick<KeyLifecycle, "list" | "create" | "get" | "rotate" | "changeState" | "cancelDestroy" | "setPolicy">;
  keyCrypto: Pick<KeyCrypto, "encrypt" | "decrypt" | "rewrap" | "generateDataKey" | "mac" | "verifyMac">;
  keyPairs: Pick<KeyPairCrypto, "publicKey" | "sign" | "verify" | "signJws" | "signCms" | "decrypt">;
  keyCertification: Pick<KeyCertification, "certify">;
  keyImport: Pick<KeyImport, "importCertificate" | "importVersion">;
  distribution: Pick<KeyDistribution, "distribute" | "list">;
}

/** The KMS keys (DESIGN.md §5; key pairs: docs/kms-key-pairs.md). Using a key also needs it in the caller's key scope. */
export function keyRoutes(deps: KeyRouteDeps): ApiRoute[] {
  const { keys, keyCrypto, keyPairs, keyCertification, keyImport, distribution } = deps;
  const usable = async (res: ApiResponse, id: string): Promise<ManagedKey> => {
    const key = await keys.get(id);
    const allowed = principalOf(res).scopes.keys ?? [];
    if (
      allowed.length &&
      !allowed.some((s) => s === key.id || s === key.name || key.tags.includes(s.replace(/^tag:/, "")))
    ) {
      throw new ForbiddenError(`your scope does not include key ${key.name}`);
    }
    return key;
  };
  return [
    {
      method: "get",
      path: "/keys",
      permission: "keys:read",
      summary: "List keys (secret keys and key pairs) with their versions and states",
      async handler(_req, res) {
        res.json({ items: (await keys.list()).map(keyView) });
      },
    },
    {
      method: "post",
      path: "/keys",
      permission: "keys:manage",
      summary:
        "Create a key generated in the HSM: AES-128, AES-256, HMAC-SHA256, or a key pair (ECDSA-P256, ECDSA-P384, Ed25519, RSA-2048/3072/4096; purpose sign or decrypt)",
      async handler(req, res) {
        const { activateAt, deactivateAt, ...body } = parseInput(CreateKeyBody, req.body, "request body");
        const request = {
          ...body,
          ...(activateAt ? { activateAt: new Date(activateAt) } : {}),
          ...(deactivateAt ? { deactivateAt: new Date(deactivateAt) } : {}),
        };
        res.status(201).json(keyView(await keys.create(request, actorOf(req, res))));
      },
    },
    {
      method: "get",
      path: "/keys/import-certificate",
      permission: "keys:read",
      summary: "Keyward's key-import certificate and its chain (PEM): seal keys to it for POST /keys/{id}/import",
      async handler(_req, res) {
        const chain = await keyImport.importCertificate();
        res.type("application/x-pem-file").send(chain.map((c) => certificatePem(new Uint8Array(c.rawData))).join(""));
      },
    },
    {
      method: "get",
      path: "/keys/:id",
      permission: "keys:read",
      summary: "One key with its versions",
      async handler(req, res) {
        res.json(keyView(await keys.get(String(req.params.id))));
      },
    },
    {
      method: "post",
      path: "/keys/:id/rotate",
      permission: "keys:manage",
      summary: "Add a new version, which becomes primary; older versions still decrypt",
      async handler(req, res) {
        res.json(keyView(await keys.rotate(String(req.params.id), actorOf(req, res))));
      },
    },
    {
      method: "post",
      path: "/keys/:id/state",
      permission: "keys:manage",
      summary: "Suspend, resume (active) or deactivate a version or the whole key (NIST SP 800-57 transitions)",
      async handler(req, res) {
        const body = parseInput(StateBody, req.body, "request body");
        res.json(
          keyView(
            await keys.changeState(
              String(req.params.id),
              { to: body.state, version: body.version, reason: body.reason },
              actorOf(req, res),
            ),
          ),
        );
      },
    },
    {
      method: "post",
      path: "/keys/:id/compromise",
      permission: "keys:manage",
      stepUp: true,
      summary: "Mark a version or the whole key compromised (sensitive: step-up, and quorum when configured)",
      async handler(req, res) {
        const body = parseInput(CompromiseBody, req.body, "request body");
        const key = await keys.get(String(req.params.id));
        await runOrRequestApproval(
          deps,
          req,
          res,
          "key.compromise",
          { keyId: key.id, ...body },
          `mark key ${key.name}${body.version ? ` version ${body.version}` : ""} compromised: ${body.reason}`,
        );
      },
    },
    {
      method: "post",
      path: "/keys/:id/versions/:version/destroy",
      permission: "keys:manage",
      stepUp: true,
      summary: "Schedule the destruction of a version after the waiting period (sensitive: step-up, quorum)",
      async handler(req, res) {
        const key = await keys.get(String(req.params.id));
        const version = parseInput(VersionParam, req.params.version, "version");
        await runOrRequestApproval(
          deps,
          req,
          res,
          "key.destroy",
          { keyId: key.id, version },
          `destroy version ${version} of key ${key.name}`,
        );
      },
    },
    {
      method: "post",
      path: "/keys/:id/versions/:version/cancel-destroy",
      permission: "keys:manage",
      summary: "Cancel a scheduled destruction during its waiting period",
      async handler(req, res) {
        const version = parseInput(VersionParam, req.params.version, "version");
        res.json(keyView(await keys.cancelDestroy(String(req.params.id), version, actorOf(req, res))));
      },
    },
    {
      method: "post",
      path: "/keys/:id/encrypt",
      permission: "keys:use",
      summary: "Encrypt with the primary version: a compact JWE (alg dir, A256GCM/A128GCM) made in the HSM",
      async handler(req, res) {
        const body = parseInput(EncryptBody, req.body, "request body");
        const key = await usable(res, String(req.params.id));
        res.json(
          await keyCrypto.encrypt(key.id, Buffer.from(body.plaintext, "base64"), actorOf(req, res), body.context),
        );
      },
    },
    {
      method: "post",
      path: "/keys/:id/decrypt",
      permission: "keys:use",
      summary:
        "Decrypt a JWE made by encrypt (active or deactivated versions; override for suspended or compromised: admins); for an RSA decrypt key pair, an RSA-OAEP ciphertext (base64) made with its public key",
      async handler(req, res) {
        const key = await usable(res, String(req.params.id));
        if (isKeyPair(key)) {
          const pair = parseInput(KeyPairDecryptBody, req.body, "request body");
          const result = await keyPairs.decrypt(
            key.id,
            { ...pair, ciphertext: b64(pair.ciphertext)! },
            actorOf(req, res),
          );
          res.json({ ...result, plaintext: result.plaintext.toString("base64") });
          return;
        }
        const body = parseInput(DecryptBody, req.body, "request body");
        if (body.override && principalOf(res).role !== "admin")
          throw new ForbiddenError("only an admin may override a key's state to decrypt");
        const { plaintext, version } = await keyCrypto.decrypt(key.id, body.ciphertext, actorOf(req, res), body);
        res.json({ plaintext: plaintext.toString("base64"), version });
      },
    },
    {
      method: "post",
      path: "/keys/:id/rewrap",
      permission: "keys:use",
      summary: "Re-encrypt a JWE under the primary version without the plaintext leaving the server",
      async handler(req, res) {
        const body = parseInput(DecryptBody.omit({ override: true }), req.body, "request body");
        const key = await usable(res, String(req.params.id));
        res.json(await keyCrypto.rewrap(key.id, body.ciphertext, actorOf(req, res), body.context));
      },
    },
    {
      method: "post",
      path: "/keys/:id/generate-data-key",
      permission: "keys:use",
      summary: "Envelope encryption: a fresh data key in plaintext and sealed under this key",
      async handler(req, res) {
        const body = parseInput(DataKeyBody, req.body ?? {}, "request body");
        const key = await usable(res, String(req.params.id));
        const made = await keyCrypto.generateDataKey(key.id, body.bytes, actorOf(req, res), body.context);
        res.json({ plaintext: made.plaintext.toString("base64"), ciphertext: made.ciphertext, version: made.version });
      },
    },
    {
      method: "post",
      path: "/keys/:id/mac",
      permission: "keys:use",
      summary: "HMAC-SHA-256 in the HSM with the primary version",
      async handler(req, res) {
        const body = parseInput(MacBody, req.body, "request body");
        const key = await usable(res, String(req.params.id));
        res.json(await keyCrypto.mac(key.id, Buffer.from(body.data, "base64"), actorOf(req, res)));
      },
    },
    {
      method: "post",
      path: "/keys/:id/verify",
      permission: "keys:use",
      summary:
        "Check an HMAC made by mac (any version that may still process data), or a key pair's signature (any version not destroyed)",
      async handler(req, res) {
        const key = await usable(res, String(req.params.id));
        if (isKeyPair(key)) {
          const pair = parseInput(SignatureVerifyBody, req.body, "request body");
          res.json(
            await keyPairs.verify(
              key.id,
              { ...signInput(pair), signature: b64(pair.signature)!, algorithm: pair.algorithm, version: pair.version },
              actorOf(req, res),
            ),
          );
          return;
        }
        const body = parseInput(VerifyBody, req.body, "request body");
        res.json({
          valid: await keyCrypto.verifyMac(
            key.id,
            Buffer.from(body.data, "base64"),
            body.mac,
            body.version,
            actorOf(req, res),
          ),
        });
      },
    },
    {
      method: "get",
      path: "/keys/:id/public-key",
      permission: "keys:read",
      summary: "A key pair's public key (?version=, ?format=pem|jwk|ssh); the JWK's kid is <id>/<version>",
      async handler(req, res) {
        const q = parseInput(PublicKeyQuery, req.query, "query");
        const result = await keyPairs.publicKey(String(req.params.id), q);
        if (typeof result.publicKey === "string" && q.format === "pem" && !req.acceptsJson()) {
          res.type("application/x-pem-file").send(result.publicKey);
          return;
        }
        res.json(result);
      },
    },
    {
      method: "post",
      path: "/keys/:id/sign",
      permission: "keys:use",
      summary:
        "Sign a message or its digest in the HSM with the primary version: ECDSA (DER), Ed25519, RSA PKCS#1 v1.5 or PSS",
      async handler(req, res) {
        const body = parseInput(SignBody, req.body, "request body");
        const key = await usable(res, String(req.params.id));
        const result = await keyPairs.sign(
          key.id,
          { ...signInput(body), algorithm: body.algorithm, version: body.version },
          actorOf(req, res),
        );
        res.json({ ...result, signature: result.signature.toString("base64") });
      },
    },
    {
      method: "post",
      path: "/keys/:id/sign-jws",
      permission: "keys:use",
      summary:
        "A compact JWS of the payload (base64 bytes, or a JSON object) with kid <id>/<version>, signed in the HSM",
      async handler(req, res) {
        const body = parseInput(SignJwsBody, req.body, "request body");
        const key = await usable(res, String(req.params.id));
        const payload =
          typeof body.payload === "string" ? b64(body.payload)! : Buffer.from(JSON.stringify(body.payload), "utf8");
        res.json(
          await keyPairs.signJws(
            key.id,
            { payload, header: body.header, algorithm: body.algorithm },
            actorOf(req, res),
          ),
        );
      },
    },
    {
      method: "post",
      path: "/keys/:id/sign-cms",
      permission: "keys:use",
      summary:
        "CMS SignedData (RFC 5652, base64 DER) of the content by the primary version, with its certificate and chain (detached by default)",
      async handler(req, res) {
        const body = parseInput(SignCmsBody, req.body, "request body");
        const key = await usable(res, String(req.params.id));
        const result = await keyPairs.signCms(
          key.id,
          { content: b64(body.content)!, detached: body.detached },
          actorOf(req, res),
        );
        res.json({ ...result, cms: result.cms.toString("base64") });
      },
    },
    {
      method: "post",
      path: "/keys/:id/certificate",
      permission: "keys:manage",
      summary:
        "Certify a key pair's version under Keyward's CA: a CSR signed in the HSM by the version, through normal issuance",
      async handler(req, res) {
        const body = parseInput(CertifyBody, req.body, "request body");
        const key = await usable(res, String(req.params.id));
        const { profiles, names } = principalOf(res).scopes;
        const result = await keyCertification.certify(key.id, body, actorOf(req, res), { profiles, names });
        res
          .status(201)
          .setHeader("Location", `/api/v1/certificates/${result.serial}`)
          .json({
            keyId: result.keyId,
            version: result.version,
            serial: result.serial,
            certificate: certificatePem(result.certificate),
            chain: result.chain.map((c) => certificatePem(c)).join(""),
            notAfter: result.notAfter.toISOString(),
          });
      },
    },
    {
      method: "post",
      path: "/keys/:id/policy",
      permission: "keys:manage",
      summary: "Set what revoking a recipient certificate does to the key: flag, rotate or compromise",
      async handler(req, res) {
        const body = parseInput(PolicyBody, req.body, "request body");
        res.json(keyView(await keys.setPolicy(String(req.params.id), body.onRecipientRevoked, actorOf(req, res))));
      },
    },
    {
      method: "post",
      path: "/keys/:id/distributions",
      permission: "keys:distribute",
      summary: "Wrap a distributable key version to a checked recipient certificate, as CMS or JWE",
      async handler(req, res) {
        const body = parseInput(DistributeBody, req.body, "request body");
        const key = await usable(res, String(req.params.id));
        const result = await distribution.distribute(key.id, body, actorOf(req, res));
        res.status(201).setHeader("Location", `/api/v1/keys/${key.id}/distributions/${result.id}`).json(result);
      },
    },
    {
      method: "get",
      path: "/keys/:id/distributions",
      permission: "keys:read",
      summary: "Every distribution of the key: version, recipient, time, principal and exposure",
      async handler(req, res) {
        res.json({ items: (await distribution.list(String(req.params.id))).map(distributionView) });
      },
    },
    {
      method: "post",
      path: "/keys/:id/import",
      permission: "keys:manage",
      summary: "Import (BYOK) a key version sealed to the import certificate as CMS (base64 DER) or JWE",
      async handler(req, res) {
        const body = parseInput(ImportBody, req.body, "request body");
        res
          .status(201)
          .json(
            keyView(await keyImport.importVersion(String(req.params.id), body.format, body.data, actorOf(req, res))),
          );
      },
    },
  ];
}
