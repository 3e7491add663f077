/** The KMIP 1.4 tags and enumerations this server reads or writes (KMIP 1.4 spec §9.1.3). */

export const TAG = {
  ActivationDate: 0x420001,
  Attribute: 0x420008,
  AttributeIndex: 0x420009,
  AttributeName: 0x42000a,
  AttributeValue: 0x42000b,
  Authentication: 0x42000c,
  BatchCount: 0x42000d,
  BatchItem: 0x42000f,
  BlockCipherMode: 0x420011,
  CommonTemplateAttribute: 0x42001f,
  CompromiseOccurrenceDate: 0x420021,
  CryptographicAlgorithm: 0x420028,
  CryptographicLength: 0x42002a,
  CryptographicParameters: 0x42002b,
  CryptographicUsageMask: 0x42002c,
  DeactivationDate: 0x42002f,
  DestroyDate: 0x420033,
  InitialDate: 0x420039,
  IvCounterNonce: 0x42003d,
  KeyBlock: 0x420040,
  KeyFormatType: 0x420042,
  KeyMaterial: 0x420043,
  KeyValue: 0x420045,
  KeyWrappingData: 0x420046,
  KeyWrappingSpecification: 0x420047,
  LastChangeDate: 0x420048,
  MaximumItems: 0x42004f,
  MaximumResponseSize: 0x420050,
  Name: 0x420053,
  NameType: 0x420054,
  NameValue: 0x420055,
  ObjectGroup: 0x420056,
  ObjectType: 0x420057,
  Offset: 0x420058,
  Operation: 0x42005c,
  PaddingMethod: 0x42005f,
  PrivateKey: 0x420064,
  PrivateKeyTemplateAttribute: 0x420065,
  PrivateKeyUniqueIdentifier: 0x420066,
  ProtocolVersion: 0x420069,
  ProtocolVersionMajor: 0x42006a,
  ProtocolVersionMinor: 0x42006b,
  PublicKey: 0x42006d,
  PublicKeyTemplateAttribute: 0x42006e,
  PublicKeyUniqueIdentifier: 0x42006f,
  QueryFunction: 0x420074,
  RecommendedCurve: 0x420075,
  RequestHeader: 0x420077,
  RequestMessage: 0x420078,
  RequestPayload: 0x420079,
  ResponseHeader: 0x42007a,
  ResponseMessage: 0x42007b,
  ResponsePayload: 0x42007c,
  ResultMessage: 0x42007d,
  ResultReason: 0x42007e,
  ResultStatus: 0x42007f,
  RevocationMessage: 0x420080,
  RevocationReason: 0x420081,
  RevocationReasonCode: 0x420082,
  SecretData: 0x420085,
  SecretDataType: 0x420086,
  ServerInformation: 0x420088,
  State: 0x42008d,
  StorageStatusMask: 0x42008e,
  SymmetricKey: 0x42008f,
  TemplateAttribute: 0x420091,
  TimeStamp: 0x420092,
  UniqueBatchItemId: 0x420093,
  UniqueIdentifier: 0x420094,
  VendorIdentification: 0x42009d,
  Data: 0x4200c2,
  MacData: 0x4200c6,
  LocatedItems: 0x4200d5,
  AuthenticatedEncryptionAdditionalData: 0x4200fe,
  AuthenticatedEncryptionTag: 0x4200ff,
  TagLength: 0x4200ce,
} as const;

export const OPERATION = {
  Create: 1,
  CreateKeyPair: 2,
  Register: 3,
  ReKey: 4,
  Locate: 8,
  Get: 10,
  GetAttributes: 11,
  GetAttributeList: 12,
  AddAttribute: 13,
  ModifyAttribute: 14,
  DeleteAttribute: 15,
  Activate: 18,
  Revoke: 19,
  Destroy: 20,
  Query: 24,
  DiscoverVersions: 30,
  Encrypt: 31,
  Decrypt: 32,
  Mac: 35,
} as const;
export type OperationName = keyof typeof OPERATION;

export const RESULT_STATUS = { Success: 0, OperationFailed: 1 } as const;

/** KMIP 1.4 §9.1.3.2.29 result reasons (1.x values only: 1.x clients decode nothing else). */
export const RESULT_REASON = {
  ItemNotFound: 0x01,
  ResponseTooLarge: 0x02,
  AuthenticationNotSuccessful: 0x03,
  InvalidMessage: 0x04,
  OperationNotSupported: 0x05,
  MissingData: 0x06,
  InvalidField: 0x07,
  FeatureNotSupported: 0x08,
  CryptographicFailure: 0x0a,
  IllegalOperation: 0x0b,
  PermissionDenied: 0x0c,
  ObjectAlreadyExists: 0x18,
  GeneralFailure: 0x100,
} as const;
export type ResultReasonName = keyof typeof RESULT_REASON;

export const OBJECT_TYPE = { SymmetricKey: 2, PublicKey: 3, PrivateKey: 4, SecretData: 7 } as const;

export const CRYPTO_ALGORITHM = { AES: 3, RSA: 4, ECDSA: 6, HMAC_SHA256: 9, EC: 0x1a, Ed25519: 0x37 } as const;

export const RECOMMENDED_CURVE = { P256: 7, P384: 0x0a } as const;

export const STATE = { PreActive: 1, Active: 2, Deactivated: 3, Compromised: 4, Destroyed: 5 } as const;

export const NAME_TYPE = { UninterpretedTextString: 1 } as const;

export const REVOCATION_REASON = {
  Unspecified: 1,
  KeyCompromise: 2,
  CaCompromise: 3,
  AffiliationChanged: 4,
  Superseded: 5,
  CessationOfOperation: 6,
  PrivilegeWithdrawn: 7,
} as const;

export const BLOCK_CIPHER_MODE = { CBC: 1, GCM: 9 } as const;
export const PADDING_METHOD = { None: 1, PKCS5: 3 } as const;

export const USAGE_MASK = {
  Sign: 0x01,
  Verify: 0x02,
  Encrypt: 0x04,
  Decrypt: 0x08,
  WrapKey: 0x10,
  UnwrapKey: 0x20,
  Export: 0x40,
  MacGenerate: 0x80,
  MacVerify: 0x100,
} as const;

export const KEY_FORMAT_TYPE = { Raw: 1, Opaque: 2, X509: 5 } as const;

export const SECRET_DATA_TYPE = { Password: 1, Seed: 2 } as const;

export const QUERY_FUNCTION = { Operations: 1, Objects: 2, ServerInformation: 3 } as const;

/** Protocol versions this server speaks, newest first (Discover Versions answers with these). */
export const PROTOCOL_VERSIONS: ReadonlyArray<readonly [number, number]> = [
  [1, 4],
  [1, 3],
  [1, 2],
  [1, 1],
  [1, 0],
];
