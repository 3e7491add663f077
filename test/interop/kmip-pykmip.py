"""PyKMIP's own client against Keyward's KMIP listener (test/interop/kmip-pykmip.test.ts runs it).

Usage: kmip-pykmip.py CONFIG_FILE SCENARIO; prints one JSON object with what it saw.
"""
import json
import sys

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from kmip.core import enums
from kmip.core import exceptions as core_exceptions
from kmip.core.factories import attributes as attribute_factory
from kmip.pie import exceptions, objects
from kmip.pie.client import ProxyKmipClient

config_file, scenario = sys.argv[1], sys.argv[2]
# Names are unique in Keyward: a prefix lets a scenario run for several clients of one server.
prefix = sys.argv[3] if len(sys.argv) > 3 else ""
GCM = {
    "cryptographic_algorithm": enums.CryptographicAlgorithm.AES,
    "block_cipher_mode": enums.BlockCipherMode.GCM,
    "padding_method": enums.PaddingMethod.NONE,
}
attrs = attribute_factory.AttributeFactory()


def attribute_values(client, uid, names):
    _, found = client.get_attributes(uid, names)
    out = {}
    for attribute in found:
        value = attribute.attribute_value
        if hasattr(value, "name_value"):
            out[attribute.attribute_name.value] = value.name_value.value
        elif hasattr(value, "value"):
            v = value.value
            out[attribute.attribute_name.value] = v.name if hasattr(v, "name") else v
    return out


def failure(call):
    try:
        call()
    except exceptions.KmipOperationFailure as error:
        return {"status": error.status.name, "reason": error.reason.name, "message": error.message}
    except core_exceptions.OperationFailure as error:
        # The newer calls (Delete/Modify Attribute) raise this one.
        return {"status": error.status.name, "reason": error.reason.name, "message": str(error)}
    return None


result = {}
with ProxyKmipClient(config="client", config_file=config_file) as client:
    if scenario == "lifecycle":
        uid = client.create(
            enums.CryptographicAlgorithm.AES,
            256,
            name="kmip-demo-key",
            cryptographic_usage_mask=[enums.CryptographicUsageMask.ENCRYPT, enums.CryptographicUsageMask.DECRYPT],
        )
        result["uid"] = uid
        client.activate(uid)
        result["located"] = client.locate(attributes=[attrs.create_attribute(enums.AttributeType.NAME, "kmip-demo-key")])
        result["locatedActiveAes"] = client.locate(
            attributes=[
                attrs.create_attribute(enums.AttributeType.STATE, enums.State.ACTIVE),
                attrs.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM, enums.CryptographicAlgorithm.AES),
                attrs.create_attribute(enums.AttributeType.OBJECT_TYPE, enums.ObjectType.SYMMETRIC_KEY),
            ]
        )
        result["attributes"] = attribute_values(
            client, uid, ["Name", "State", "Cryptographic Algorithm", "Cryptographic Length", "Object Type"]
        )
        result["attributeList"] = client.get_attribute_list(uid)
        plaintext = b"sixteen byte blk and then some more"
        ciphertext, iv = client.encrypt(plaintext, uid=uid, cryptographic_parameters=GCM)
        result["ciphertextHex"] = ciphertext.hex()
        result["decrypted"] = client.decrypt(
            ciphertext, uid=uid, cryptographic_parameters=GCM, iv_counter_nonce=iv
        ).decode()
        tampered = bytes([ciphertext[0] ^ 1]) + ciphertext[1:]
        result["tampered"] = failure(
            lambda: client.decrypt(tampered, uid=uid, cryptographic_parameters=GCM, iv_counter_nonce=iv)
        )
        result["cbc"] = failure(
            lambda: client.encrypt(
                plaintext,
                uid=uid,
                cryptographic_parameters={
                    "cryptographic_algorithm": enums.CryptographicAlgorithm.AES,
                    "block_cipher_mode": enums.BlockCipherMode.CBC,
                    "padding_method": enums.PaddingMethod.PKCS5,
                },
            )
        )
        result["getNotDistributable"] = failure(lambda: client.get(uid))
        result["destroyActive"] = failure(lambda: client.destroy(uid))
        client.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, uid)
        result["stateAfterRevoke"] = attribute_values(client, uid, ["State"])["State"]
        result["decryptAfterRevoke"] = client.decrypt(
            ciphertext, uid=uid, cryptographic_parameters=GCM, iv_counter_nonce=iv
        ).decode()
        result["encryptAfterRevoke"] = failure(lambda: client.encrypt(plaintext, uid=uid, cryptographic_parameters=GCM))
        client.destroy(uid)
        result["afterDestroy"] = attribute_values(client, uid, ["State", "x-Keyward-Destroy-After"])
        result["unknown"] = failure(lambda: client.get_attributes("00000000-0000-0000-0000-000000000000", ["State"]))
    elif scenario == "distributable":
        # A key that may leave (usage mask Export): Get returns it, and a library Keyward did not
        # write (pyca/cryptography) opens what the token sealed over KMIP.
        uid = client.create(
            enums.CryptographicAlgorithm.AES,
            128,
            name="kmip-export-key",
            cryptographic_usage_mask=[
                enums.CryptographicUsageMask.ENCRYPT,
                enums.CryptographicUsageMask.DECRYPT,
                enums.CryptographicUsageMask.EXPORT,
            ],
        )
        result["uid"] = uid
        ciphertext, iv = client.encrypt(b"opened elsewhere", uid=uid, cryptographic_parameters=GCM)
        key = client.get(uid)
        result["keyBits"] = len(key.value) * 8
        result["algorithm"] = key.cryptographic_algorithm.name
        result["openedByCryptography"] = AESGCM(key.value).decrypt(iv, ciphertext, None).decode()
        rekeyed = client.rekey(uid=uid)
        result["rekeyed"] = rekeyed
        result["versionAfterRekey"] = attribute_values(client, uid, ["x-Keyward-Version"])["x-Keyward-Version"]
        result["oldCiphertextAfterRekey"] = client.decrypt(
            ciphertext, uid=uid, cryptographic_parameters=GCM, iv_counter_nonce=iv
        ).decode()
    elif scenario == "register":
        # The client's own AES key, allowed to leave (Export): the token encrypts with it, and Get
        # gives back the very bytes registered.
        material = bytes(range(32))
        uid = client.register(
            objects.SymmetricKey(
                enums.CryptographicAlgorithm.AES,
                256,
                material,
                masks=[enums.CryptographicUsageMask.ENCRYPT, enums.CryptographicUsageMask.DECRYPT,
                       enums.CryptographicUsageMask.EXPORT],
                name=prefix + "kmip-registered-key",
            )
        )
        result["keyUid"] = uid
        ciphertext, iv = client.encrypt(b"sealed by the token", uid=uid, cryptographic_parameters=GCM)
        result["openedWithRegistered"] = AESGCM(material).decrypt(iv, ciphertext, None).decode()
        result["keyBack"] = client.get(uid).value == material
        # Without Export the registered key never leaves again.
        kept = client.register(
            objects.SymmetricKey(enums.CryptographicAlgorithm.AES, 128, bytes(16), name=prefix + "kmip-registered-kept")
        )
        result["keptGet"] = failure(lambda: client.get(kept))
        result["aes192"] = failure(
            lambda: client.register(
                objects.SymmetricKey(enums.CryptographicAlgorithm.AES, 192, bytes(24), name=prefix + "kmip-aes-192")
            )
        )
        secret = client.register(
            objects.SecretData(b"correct horse battery staple", enums.SecretDataType.PASSWORD, name=prefix + "kmip-db-password")
        )
        result["secretUid"] = secret
        back = client.get(secret)
        result["secretBack"] = back.value.decode()
        result["secretType"] = back.data_type.name
        result["secretObjectType"] = attribute_values(client, secret, ["Object Type"])["Object Type"]
        result["locatedSecrets"] = client.locate(
            attributes=[attrs.create_attribute(enums.AttributeType.OBJECT_TYPE, enums.ObjectType.SECRET_DATA)]
        )
    elif scenario == "keypair":
        from cryptography.hazmat.primitives.serialization import load_der_public_key
        for label, algorithm, length in [("rsa", enums.CryptographicAlgorithm.RSA, 2048),
                                         ("ec", enums.CryptographicAlgorithm.ECDSA, 256)]:
            public_uid, private_uid = client.create_key_pair(
                algorithm, length, private_name=prefix + "kmip-" + label + "-pair",
                private_usage_mask=[enums.CryptographicUsageMask.SIGN],
                public_usage_mask=[enums.CryptographicUsageMask.VERIFY],
            )
            public = client.get(public_uid)
            loaded = load_der_public_key(public.value)
            result[label] = {
                "publicUid": public_uid,
                "privateUid": private_uid,
                "publicFormat": public.key_format_type.name,
                "publicBits": loaded.key_size,
                "publicHex": public.value.hex(),
                "privateGet": failure(lambda: client.get(private_uid)),
                "types": [attribute_values(client, u, ["Object Type"])["Object Type"] for u in (public_uid, private_uid)],
                "located": client.locate(
                    attributes=[attrs.create_attribute(enums.AttributeType.NAME, prefix + "kmip-" + label + "-pair")]
                ),
            }
    elif scenario == "attributes":
        from kmip.core import objects as cobjects, primitives
        from kmip.core.factories.payloads.response import ResponsePayloadFactory
        from kmip.core.messages import payloads

        # Nor can it read an Add Attribute answer, which has Modify Attribute's layout too.
        ResponsePayloadFactory._create_add_attribute_payload = lambda self: payloads.ModifyAttributeResponsePayload()

        def attribute(name, value, index=None):
            return cobjects.Attribute(
                attribute_name=cobjects.Attribute.AttributeName(name),
                attribute_index=cobjects.Attribute.AttributeIndex(index) if index is not None else None,
                attribute_value=primitives.TextString(value, tag=enums.Tags.ATTRIBUTE_VALUE),
            )

        def add(uid, name, value):
            # KMIP 1.x Add Attribute has Modify Attribute's payload (Unique Identifier, Attribute):
            # PyKMIP has no Add Attribute call of its own, so its Modify payload is sent as Add.
            return client.proxy.send_request_payload(
                enums.Operation.ADD_ATTRIBUTE,
                payloads.ModifyAttributeRequestPayload(unique_identifier=uid, attribute=attribute(name, value)),
            )

        uid = client.create(enums.CryptographicAlgorithm.AES, 256, name="kmip-attr-key")
        add(uid, "x-owner", "billing")
        add(uid, "x-env", "prod")
        add(uid, "x-env", "dr")
        result["afterAdd"] = sorted(n for n in client.get_attribute_list(uid) if n.startswith("x-"))
        _, found = client.get_attributes(uid, ["x-env"])
        result["envs"] = sorted(a.attribute_value.value for a in found)
        client.modify_attribute(unique_identifier=uid, attribute=attribute("x-owner", "payments", 0))
        result["owner"] = attribute_values(client, uid, ["x-owner"])["x-owner"]
        client.delete_attribute(unique_identifier=uid, attribute_name="x-env", attribute_index=1)
        _, found = client.get_attributes(uid, ["x-env"])
        result["envsAfterDelete"] = [a.attribute_value.value for a in found]
        client.modify_attribute(
            unique_identifier=uid,
            attribute=attrs.create_attribute(enums.AttributeType.NAME, "kmip-attr-renamed"),
        )
        result["renamed"] = attribute_values(client, uid, ["Name"])["Name"]
        result["locatedRenamed"] = client.locate(
            attributes=[attrs.create_attribute(enums.AttributeType.NAME, "kmip-attr-renamed")]
        )
        result["deleteState"] = failure(
            lambda: client.delete_attribute(unique_identifier=uid, attribute_name="State", attribute_index=0)
        )
        result["addName"] = failure(lambda: add(uid, "Name", "second-name"))
        result["uid"] = uid
    elif scenario == "whoami":
        result["located"] = client.locate()
print(json.dumps(result))
