import type { AuditEvent } from "../audit/index.js";

/** A KMIP custom attribute (x-…) a client set on a key: text, indexed as KMIP's multi-instance attributes are. */
export interface CustomAttribute {
  name: string;
  index: number;
  value: string;
}

/** Where custom attributes live (storage/repositories/kmip-attribute-store.ts); each change is audited with it. */
export interface CustomAttributeStore {
  list(keyId: string): Promise<CustomAttribute[]>;
  /** Adds or replaces the attribute of that name and index. */
  put(keyId: string, attribute: CustomAttribute, audit: AuditEvent): Promise<void>;
  remove(keyId: string, name: string, index: number, audit: AuditEvent): Promise<void>;
}

/** Client attributes are x-…; x-Keyward-… are Keyward's own, read-only (Get Attributes shows them). */
export const isClientAttribute = (name: string) => /^x-/.test(name) && !/^x-keyward-/i.test(name);

export const CUSTOM_LIMITS = { perKey: 64, valueChars: 1024, nameChars: 128 } as const;
