import { z } from "zod";
import {
  ACME_REVOCATION_REASONS,
  AcmeError,
  type FinalizeRequest,
  type NewOrderRequest,
  profileNotOffered,
  type RevokeCertRequest,
} from "../../acme/index.js";

/**
 * JWS payloads of ACME requests, checked at the edge so the ACME module receives typed input.
 * Each payload names, in the order its fields are checked, the problem a refused field gets; a
 * payload that is not a JSON object is refused as its first field would be.
 */
type Refusals = Array<[field: string, refuse: (payload: Record<string, unknown>) => AcmeError]>;

const BASE64URL = /^[A-Za-z0-9_-]+$/;
const der = z
  .string()
  .regex(BASE64URL)
  .transform((text) => Buffer.from(text, "base64url"));

function checked<T extends z.ZodType>(schema: T, payload: unknown, refusals: Refusals): z.infer<T> {
  const result = schema.safeParse(payload);
  if (result.success) return result.data;
  // An issue inside a list item (identifiers.3.value) is the item's field: "identifiers[]".
  const refused = new Set(
    result.error.issues.map(({ path }) =>
      path.length === 0 ? "" : path.length === 1 ? String(path[0]) : `${String(path[0])}[]`,
    ),
  );
  const fields = typeof payload === "object" && payload !== null ? (payload as Record<string, unknown>) : {};
  const [, refuse] = refusals.find(([field]) => refused.has("") || refused.has(field)) ?? refusals[0]!;
  throw refuse(fields);
}

const NewOrderPayload = z.object({
  identifiers: z.array(z.object({ type: z.unknown(), value: z.string() })).min(1),
  profile: z.string().optional(),
  replaces: z.string().optional(),
});

/** RFC 8555 §7.4 newOrder, with `profile` (draft-ietf-acme-profiles) and `replaces` (RFC 9773 §5). */
export function newOrderPayload(payload: unknown, offeredProfiles: () => Record<string, string>): NewOrderRequest {
  return checked(NewOrderPayload, payload, [
    ["identifiers", () => new AcmeError("malformed", "newOrder needs a non-empty identifiers array")],
    ["identifiers[]", () => new AcmeError("malformed", "each identifier needs a string value")],
    ["profile", (p) => profileNotOffered(p.profile, offeredProfiles())],
    ["replaces", () => new AcmeError("malformed", "replaces must be an ARI certID string")],
  ]);
}

const FinalizePayload = z.object({ csr: der });

/** RFC 8555 §7.4 finalize: the CSR as base64url DER. */
export function finalizePayload(payload: unknown): FinalizeRequest {
  return checked(FinalizePayload, payload, [
    ["csr", () => new AcmeError("malformed", "finalize needs a base64url DER csr")],
  ]);
}

const RevokeCertPayload = z.object({
  certificate: der,
  reason: z.literal(ACME_REVOCATION_REASONS).default(0),
});

/** RFC 8555 §7.6 revokeCert: the certificate as base64url DER, and a reason a subscriber may give. */
export function revokeCertPayload(payload: unknown): RevokeCertRequest {
  return checked(RevokeCertPayload, payload, [
    ["certificate", () => new AcmeError("malformed", "revokeCert needs the certificate as base64url DER")],
    [
      "reason",
      (p) =>
        new AcmeError(
          "badRevocationReason",
          `reason ${JSON.stringify(p.reason)} is not allowed; use 0, 1, 3, 4, 5 or 9`,
        ),
    ],
  ]);
}
