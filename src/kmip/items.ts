import { KmipError } from "./errors.js";
import { TAG } from "./spec.js";
import type { TtlvItem } from "./ttlv.js";

/** Building TTLV items by tag, and reading request fields with KMIP errors naming what is wrong. */

export const struct = (tag: number, value: Array<TtlvItem | undefined>): TtlvItem => ({
  tag,
  type: "Structure",
  value: value.filter((v): v is TtlvItem => v !== undefined),
});
export const int = (tag: number, value: number): TtlvItem => ({ tag, type: "Integer", value });
export const enumeration = (tag: number, value: number): TtlvItem => ({ tag, type: "Enumeration", value });
export const text = (tag: number, value: string): TtlvItem => ({ tag, type: "TextString", value });
export const bytes = (tag: number, value: Buffer): TtlvItem => ({ tag, type: "ByteString", value });
export const dateTime = (tag: number, value: Date): TtlvItem => ({ tag, type: "DateTime", value });
export const bool = (tag: number, value: boolean): TtlvItem => ({ tag, type: "Boolean", value });

const TAG_NAMES = new Map<number, string>(Object.entries(TAG).map(([name, tag]) => [tag, name]));
export const tagName = (tag: number) => TAG_NAMES.get(tag) ?? `0x${tag.toString(16).toUpperCase()}`;

export function children(item: TtlvItem | undefined): TtlvItem[] {
  return item?.type === "Structure" ? item.value : [];
}

export function findAll(item: TtlvItem | undefined, tag: number): TtlvItem[] {
  return children(item).filter((c) => c.tag === tag);
}

export function find(item: TtlvItem | undefined, tag: number): TtlvItem | undefined {
  return children(item).find((c) => c.tag === tag);
}

function typed<T extends TtlvItem["type"]>(
  item: TtlvItem | undefined,
  tag: number,
  type: T,
): Extract<TtlvItem, { type: T }> | undefined {
  const found = find(item, tag);
  if (!found) return undefined;
  if (found.type !== type)
    throw new KmipError("InvalidField", `${tagName(tag)} must be a ${type}, not a ${found.type}`);
  return found as Extract<TtlvItem, { type: T }>;
}

export const optionalText = (item: TtlvItem | undefined, tag: number) => typed(item, tag, "TextString")?.value;
export const optionalEnum = (item: TtlvItem | undefined, tag: number) => typed(item, tag, "Enumeration")?.value;
export const optionalInt = (item: TtlvItem | undefined, tag: number) => typed(item, tag, "Integer")?.value;
export const optionalBytes = (item: TtlvItem | undefined, tag: number) => typed(item, tag, "ByteString")?.value;
export const optionalDate = (item: TtlvItem | undefined, tag: number) => typed(item, tag, "DateTime")?.value;
export const optionalStruct = (item: TtlvItem | undefined, tag: number) => typed(item, tag, "Structure");

export function required<T>(value: T | undefined, tag: number, where: string): T {
  if (value === undefined) throw new KmipError("MissingData", `${where} needs ${tagName(tag)}`);
  return value;
}
