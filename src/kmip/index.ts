export { createKmip, type Kmip, type KmipDeps, type KmipSettings } from "./factory.js";
export { decodeTtlv, encodeTtlv, messageLength, type TtlvItem, TtlvError } from "./ttlv.js";
export type { CustomAttribute, CustomAttributeStore } from "./custom-attributes.js";
