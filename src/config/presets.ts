import type { PresetName } from "./schema.js";

type Json = Record<string, unknown>;

const intermediate = (keyType: string, validityDays: number) => [
  { id: "intermediate", keyType, commonName: "Keyward Intermediate CA", organization: "Keyward", validityDays },
];

/**
 * Security-needs presets chosen with `keyward init --profile`. Each is a layer between the shipped
 * defaults (config/default.yaml) and the operator's own file, so anything the operator sets still
 * wins. Why each value was chosen: docs/handbook/profiles.md.
 */
export const PRESET_SETTINGS: Record<PresetName, Json> = {
  // A laptop or CI: fast keys, short lifetimes, nobody to ask for approval. The
  // intermediate outlives Keyward's own 397-day service certificates (audit and KMS signers).
  dev: {
    ca: {
      root: { keyType: "p256", validityDays: 3650 },
      intermediates: intermediate("p256", 730),
    },
    profiles: { server: { validityDays: 30 }, client: { validityDays: 30 } },
    revocation: { crlValidityHours: 24, ocspValidityHours: 24, rootCrlValidityDays: 365 },
    access: { sessionMinutes: 60, quorum: {} },
    kms: { destroyWaitDays: 1 },
    ceremony: { minWitnesses: 0 },
  },
  // A team running its own PKI: the shipped defaults, plus one witness at root ceremonies.
  small: {
    ca: {
      root: { keyType: "p384", validityDays: 7305 },
      intermediates: intermediate("p256", 1826),
    },
    profiles: { server: { validityDays: 90 }, client: { validityDays: 90 } },
    revocation: { crlValidityHours: 24, ocspValidityHours: 72, rootCrlValidityDays: 180 },
    access: { sessionMinutes: 15, quorum: {} },
    kms: { destroyWaitDays: 7 },
    ceremony: { minWitnesses: 1 },
  },
  // PCI-DSS / ISO 27001 scope: dual control on dangerous operations, fresher revocation data,
  // 3-year intermediates (SP 800-57 private signature key: 1-3 years), keys never in process memory.
  regulated: {
    ca: {
      root: { keyType: "p384", validityDays: 7305 },
      intermediates: intermediate("p384", 1095),
    },
    profiles: {
      // No Ed25519 for TLS servers (BR §6.1.5), as in the shipped server profile.
      server: { validityDays: 90, keyTypes: ["p256", "p384", "rsa3072", "rsa4096"] },
      client: { validityDays: 90, keyTypes: ["p256", "p384", "rsa3072", "rsa4096", "ed25519"] },
    },
    revocation: { crlValidityHours: 12, ocspValidityHours: 24, rootCrlValidityDays: 90 },
    access: {
      sessionMinutes: 10,
      approvalHours: 8,
      quorum: {
        "ca.create": { approvals: 2, role: "admin" },
        "ca.revoke": { approvals: 2, role: "admin" },
        "user.role": { approvals: 2, role: "admin" },
        "key.destroy": { approvals: 2, role: "key-officer" },
        "escrow.recover": { approvals: 2, role: "key-officer" },
      },
    },
    acme: { externalAccountRequired: true },
    kms: { destroyWaitDays: 30, allowJweDistribution: false },
    ceremony: { minWitnesses: 2 },
  },
};
