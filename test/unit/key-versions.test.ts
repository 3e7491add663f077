import type { Logger } from "pino";
import { describe, expect, it, vi } from "vitest";
import { recordVersionOrDestroy } from "../../src/keys/versions.js";

describe("a new key version whose record is refused", () => {
  it("has its token object destroyed, and the refusal reaches the caller", async () => {
    const destroy = vi.fn(async (_uri: string) => undefined);
    const refusal = new Error('a key named "payments" already exists');
    await expect(
      recordVersionOrDestroy({ destroy }, "pkcs11:object=kms-payments-v1", () => Promise.reject(refusal)),
    ).rejects.toBe(refusal);
    expect(destroy).toHaveBeenCalledWith("pkcs11:object=kms-payments-v1");
  });

  it("still reports the refusal when the object cannot be destroyed, and logs the object left behind", async () => {
    const destroy = vi.fn(async (_uri: string) => Promise.reject(new Error("CKR_DEVICE_REMOVED")));
    const logger = { error: vi.fn() };
    const refusal = new Error("database unreachable");
    await expect(
      recordVersionOrDestroy({ destroy, logger: logger as unknown as Logger }, "pkcs11:object=kms-x-v2", () =>
        Promise.reject(refusal),
      ),
    ).rejects.toBe(refusal);
    expect(logger.error).toHaveBeenCalledWith(
      expect.objectContaining({ keyUri: "pkcs11:object=kms-x-v2", refusal: "database unreachable" }),
      expect.stringContaining("left in the token"),
    );
  });

  it("destroys nothing when the record is written", async () => {
    const destroy = vi.fn(async (_uri: string) => undefined);
    await recordVersionOrDestroy({ destroy }, "pkcs11:object=kms-y-v1", async () => undefined);
    expect(destroy).not.toHaveBeenCalled();
  });
});
