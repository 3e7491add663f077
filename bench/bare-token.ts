import pkcs11js from "pkcs11js";

/**
 * A logged-in session on a SoftHSM2 token with a fresh ECDSA P-256 signing key, through pkcs11js
 * directly (no Keyward code): the crypto floor's signatures and the minimal issuer's. With
 * `tokenObject` the key is stored in the token as a CA key is (SoftHSM then checks its object file
 * on each use); without, a session object (the bare arithmetic). The caller finalises `p11`.
 */
export function bareP256Signer(modulePath: string, tokenLabel: string, pin: string, tokenObject: boolean) {
  const p11 = new pkcs11js.PKCS11();
  p11.load(modulePath);
  p11.C_Initialize();
  const slot = p11.C_GetSlotList(true).find((s) => p11.C_GetTokenInfo(s).label.trim() === tokenLabel)!;
  const session = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  p11.C_Login(session, pkcs11js.CKU_USER, pin);
  const { privateKey } = p11.C_GenerateKeyPair(
    session,
    { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
    [{ type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from("06082a8648ce3d030107", "hex") }],
    [
      { type: pkcs11js.CKA_SIGN, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_TOKEN, value: tokenObject },
      { type: pkcs11js.CKA_PRIVATE, value: true },
    ],
  );
  /** CKM_ECDSA over a SHA-256 digest: r || s, 64 bytes. */
  const signDigest = (digest: Buffer, out = Buffer.alloc(128)) => {
    p11.C_SignInit(session, { mechanism: pkcs11js.CKM_ECDSA }, privateKey);
    return p11.C_Sign(session, digest, out);
  };
  return { p11, signDigest };
}
