import { readFileSync, writeFileSync } from "node:fs";
import { type Command, Option } from "commander";
import { readOperatorFile } from "../../config/index.js";
import {
  isKeyPair,
  KEY_ALGORITHMS,
  KEY_PURPOSES,
  type KeyPurpose,
  keyView,
  type ManagedKey,
  PUBLIC_KEY_FORMATS,
  type PublicKeyFormat,
  RECIPIENT_POLICIES,
  type RecipientPolicy,
} from "../../keys/index.js";
import { certificatePem } from "../../pki/pem.js";
import { cliActor } from "../actor.js";
import { jsonObject, list, parseDate, positiveInt } from "../arguments.js";
import type { CliContext } from "../context.js";
import { protectionOf } from "../../hsm/index.js";
import { table } from "../output.js";

/** `keyward key …`: KMS keys in the HSM (secret keys and key pairs), and blocking compromised public keys. */
export function registerKeyCommands(program: Command, ctx: CliContext): void {
  const key = program
    .command("key")
    .description("KMS keys in the HSM (secret keys and key pairs), and blocking compromised public keys");
  const showKey = (k: ManagedKey) =>
    table([
      ["VERSION", "STATE", "PROTECTION", "CREATED", "DESTROY AFTER"],
      ...k.versions.map((v) => [
        String(v.version),
        v.state,
        protectionOf(v.keyUri),
        v.createdAt.toISOString(),
        v.destroyAfter?.toISOString() ?? "",
      ]),
    ]);
  key
    .command("create")
    .description("create a key generated in the HSM: a secret key, or a key pair whose private half never leaves it")
    .requiredOption("--name <name>", "key name")
    .addOption(new Option("--algorithm <alg>").choices(KEY_ALGORITHMS).default("AES-256"))
    .addOption(
      new Option("--purpose <purpose>", "default: encrypt (AES), mac (HMAC), sign (key pairs); decrypt: RSA").choices(
        KEY_PURPOSES,
      ),
    )
    .option("--distributable", "may be wrapped to recipient certificates (extractable in the token)")
    .option("--rotation-days <n>", "rotate automatically after this many days", (v) =>
      positiveInt(v, "--rotation-days"),
    )
    .option("--cryptoperiod-days <n>", "deactivate each version after this many days", (v) =>
      positiveInt(v, "--cryptoperiod-days"),
    )
    .option("--tags <tags>", "comma-separated tags (scopes can name tag:<t>)", list)
    .addOption(
      new Option("--on-recipient-revoked <policy>", "when a recipient certificate is revoked")
        .choices(RECIPIENT_POLICIES)
        .default("flag"),
    )
    .option("--activate-at <time>", "start in pre-activation until this ISO time", (v) => parseDate(v, "--activate-at"))
    .option("--deactivate-at <time>", "deactivate the first version at this ISO time", (v) =>
      parseDate(v, "--deactivate-at"),
    )
    .action(
      async (opts: {
        name: string;
        algorithm: (typeof KEY_ALGORITHMS)[number];
        purpose?: KeyPurpose;
        distributable?: boolean;
        rotationDays?: number;
        cryptoperiodDays?: number;
        tags?: string[];
        onRecipientRevoked: RecipientPolicy;
        activateAt?: Date;
        deactivateAt?: Date;
      }) => {
        await ctx.withServices(async (s, out) => {
          const created = await s.keys.create({ ...opts, distributable: opts.distributable ?? false }, cliActor());
          out.result(
            keyView(created),
            () => `Key ${created.name} (${created.id}), ${created.algorithm}, ${created.purpose}:\n${showKey(created)}`,
          );
        });
      },
    );
  key
    .command("list")
    .description("list keys (secret keys and key pairs)")
    .action(async () => {
      await ctx.withServices(async (s, out) => {
        const items = await s.keys.list();
        out.result({ items: items.map(keyView) }, () =>
          table([
            ["ID", "NAME", "ALGORITHM", "PURPOSE", "PROTECTION", "PRIMARY", "VERSIONS"],
            ...items.map((k) => [
              k.id,
              k.name,
              k.algorithm,
              k.purpose,
              keyView(k).protection,
              String(s.keys.primary(k)?.version ?? "none"),
              k.versions.map((v) => `${v.version}:${v.state}`).join(" "),
            ]),
          ]),
        );
      });
    });
  key
    .command("show")
    .argument("<id>", "key id")
    .description("one key with its versions")
    .action(async (id: string) => {
      await ctx.withServices(async (s, out) => {
        const k = await s.keys.get(id);
        out.result(keyView(k), () => `${k.name} (${k.algorithm}, ${k.purpose})\n${showKey(k)}`);
      });
    });
  key
    .command("rotate")
    .argument("<id>", "key id")
    .description("add a new primary version")
    .action(async (id: string) => {
      await ctx.withServices(async (s, out) => {
        const k = await s.keys.rotate(id, cliActor());
        out.result(keyView(k), () => showKey(k));
      });
    });
  for (const [command, to, about] of [
    ["suspend", "suspended", "stop all use until resumed"],
    ["resume", "active", "end a suspension"],
    ["deactivate", "deactivated", "decrypt only from now on"],
    ["compromise", "compromised", "mark compromised: no more use"],
  ] as const) {
    key
      .command(command)
      .argument("<id>", "key id")
      .option("--version <n>", "only this version", (v) => positiveInt(v, "--version"))
      .option("--reason <text>", "why (recorded in the audit log)")
      .description(about)
      .action(async (id: string, opts: { version?: number; reason?: string }) => {
        await ctx.withServices(async (s, out) => {
          const k = await s.keys.changeState(id, { to, version: opts.version, reason: opts.reason }, cliActor());
          out.result(keyView(k), () => showKey(k));
        });
      });
  }
  key
    .command("destroy")
    .argument("<id>", "key id")
    .requiredOption("--version <n>", "version to destroy", (v) => positiveInt(v, "--version"))
    .description("schedule C_DestroyObject after the waiting period (kms.destroyWaitDays); cancel with cancel-destroy")
    .action(async (id: string, opts: { version: number }) => {
      await ctx.withServices(async (s, out) => {
        const k = await s.keys.scheduleDestroy(id, opts.version, cliActor());
        out.result(keyView(k), () => showKey(k));
      });
    });
  key
    .command("cancel-destroy")
    .argument("<id>", "key id")
    .requiredOption("--version <n>", "version", (v) => positiveInt(v, "--version"))
    .description("cancel a scheduled destruction")
    .action(async (id: string, opts: { version: number }) => {
      await ctx.withServices(async (s, out) => {
        const k = await s.keys.cancelDestroy(id, opts.version, cliActor());
        out.result(keyView(k), () => showKey(k));
      });
    });
  key
    .command("encrypt")
    .argument("<id>", "key id")
    .requiredOption("--in <file>", "plaintext file ('-' for stdin)")
    .description("print a compact JWE of the file, made in the HSM")
    .action(async (id: string, opts: { in: string }) => {
      await ctx.withServices(async (s, out) => {
        const data = readFileSync(opts.in === "-" ? 0 : opts.in);
        const sealed = await s.keyCrypto.encrypt(id, data, cliActor());
        out.result(sealed, () => sealed.ciphertext);
      });
    });
  key
    .command("decrypt")
    .argument("<id>", "key id")
    .requiredOption(
      "--in <file>",
      "the compact JWE, or for an RSA decrypt key pair the binary RSA-OAEP ciphertext ('-' for stdin)",
    )
    .option("--out <file>", "write the plaintext here (default stdout)")
    .description(
      "decrypt a JWE made by key encrypt, or an RSA-OAEP ciphertext made with a decrypt key pair's public key",
    )
    .action(async (id: string, opts: { in: string; out?: string }) => {
      await ctx.withServices(async (s, out) => {
        const k = await s.keys.get(id);
        const { plaintext, version } = isKeyPair(k)
          ? await s.keyPairs.decrypt(id, { ciphertext: readFileSync(opts.in === "-" ? 0 : opts.in) }, cliActor())
          : await s.keyCrypto.decrypt(id, readOperatorFile(opts.in, "ciphertext").trim(), cliActor());
        if (opts.out) writeFileSync(opts.out, plaintext, { mode: 0o600 });
        if (out.json) out.result({ plaintext: plaintext.toString("base64"), version }, () => "");
        else if (!opts.out) process.stdout.write(plaintext);
      });
    });
  key
    .command("public-key")
    .argument("<id>", "key id")
    .option("--version <n>", "version (default: the primary)", (v) => positiveInt(v, "--version"))
    .addOption(new Option("--format <format>").choices(PUBLIC_KEY_FORMATS).default("pem"))
    .option("--out <file>", "write it here instead of printing it")
    .description("a key pair's public key: PEM (openssl), JWK (kid <id>/<version>) or OpenSSH")
    .action(async (id: string, opts: { version?: number; format: PublicKeyFormat; out?: string }) => {
      await ctx.withServices(async (s, out) => {
        const result = await s.keyPairs.publicKey(id, opts);
        const text =
          typeof result.publicKey === "string" ? result.publicKey : `${JSON.stringify(result.publicKey, null, 2)}\n`;
        if (opts.out) writeFileSync(opts.out, opts.format === "ssh" ? `${text}\n` : text);
        out.result(result, () =>
          opts.out ? `Version ${result.version} of ${id} written to ${opts.out}` : text.trimEnd(),
        );
      });
    });
  key
    .command("sign")
    .argument("<id>", "key id")
    .requiredOption("--in <file>", "the message ('-' for stdin), or with --digest its binary digest")
    .option("--digest", "the file is a digest (SHA-256/384/512 as the algorithm needs), not the message")
    .option("--algorithm <alg>", "ES256, ES384, EdDSA, RS256…RS512, PS256…PS512 (default: the key's first)")
    .option("--out <file>", "write the binary signature here (default: print base64)")
    .description("sign in the HSM with the primary version (ECDSA signatures are DER, as openssl dgst -verify reads)")
    .action(async (id: string, opts: { in: string; digest?: boolean; algorithm?: string; out?: string }) => {
      await ctx.withServices(async (s, out) => {
        const data = readFileSync(opts.in === "-" ? 0 : opts.in);
        const result = await s.keyPairs.sign(
          id,
          { ...(opts.digest ? { digest: data } : { message: data }), algorithm: opts.algorithm },
          cliActor(),
        );
        if (opts.out) writeFileSync(opts.out, result.signature);
        const view = { ...result, signature: result.signature.toString("base64") };
        out.result(view, () =>
          opts.out
            ? `Signed with version ${result.version} (${result.algorithm}); signature in ${opts.out}`
            : view.signature,
        );
      });
    });
  key
    .command("verify")
    .argument("<id>", "key id")
    .requiredOption("--in <file>", "the message, or with --digest its binary digest")
    .requiredOption("--signature <file>", "the binary signature")
    .option("--digest", "the file is a digest, not the message")
    .option("--algorithm <alg>", "the signature algorithm (default: the key's first)")
    .option("--version <n>", "only this version (default: each version not destroyed)", (v) =>
      positiveInt(v, "--version"),
    )
    .description("check a signature with a key pair's version (exit code 0 only when it verifies)")
    .action(
      async (
        id: string,
        opts: { in: string; signature: string; digest?: boolean; algorithm?: string; version?: number },
      ) => {
        await ctx.withServices(async (s, out) => {
          const data = readFileSync(opts.in === "-" ? 0 : opts.in);
          const result = await s.keyPairs.verify(
            id,
            {
              ...(opts.digest ? { digest: data } : { message: data }),
              signature: readFileSync(opts.signature),
              algorithm: opts.algorithm,
              version: opts.version,
            },
            cliActor(),
          );
          out.result(result, () =>
            result.valid
              ? `Verified: version ${result.version} (${result.state}), ${result.algorithm}`
              : "Signature does NOT verify",
          );
          if (!result.valid) process.exitCode = 1;
        });
      },
    );
  key
    .command("sign-jws")
    .argument("<id>", "key id")
    .requiredOption("--in <file>", "the payload ('-' for stdin)")
    .option("--header <json>", 'extra protected header members, e.g. \'{"typ":"JWT"}\'', (v) =>
      jsonObject(v, "--header"),
    )
    .description("print a compact JWS of the payload (kid <id>/<version>), signed in the HSM")
    .action(async (id: string, opts: { in: string; header?: Record<string, unknown> }) => {
      await ctx.withServices(async (s, out) => {
        const header = opts.header;
        const payload = readFileSync(opts.in === "-" ? 0 : opts.in);
        const result = await s.keyPairs.signJws(id, { payload, header }, cliActor());
        out.result(result, () => result.jws);
      });
    });
  key
    .command("sign-cms")
    .argument("<id>", "key id")
    .requiredOption("--in <file>", "the content ('-' for stdin)")
    .requiredOption("--out <file>", "where the CMS SignedData (DER) goes")
    .option("--attached", "carry the content inside (default: detached)")
    .description(
      "CMS SignedData by the certified primary version (openssl cms -verify -binary -content F -CAfile root.pem)",
    )
    .action(async (id: string, opts: { in: string; out: string; attached?: boolean }) => {
      await ctx.withServices(async (s, out) => {
        const content = readFileSync(opts.in === "-" ? 0 : opts.in);
        const result = await s.keyPairs.signCms(id, { content, detached: !opts.attached }, cliActor());
        writeFileSync(opts.out, result.cms);
        out.result(
          { version: result.version, serial: result.serial, out: opts.out },
          () => `Signed with version ${result.version} (certificate ${result.serial}); CMS in ${opts.out}`,
        );
      });
    });
  key
    .command("certify")
    .argument("<id>", "key id")
    .requiredOption("--profile <profile>", "certificate profile, e.g. signing")
    .option("--subject <cn>", "subject CN (default: the key's name)")
    .option("--san <type:value...>", "subjectAltName entries, e.g. email:releases@example.com")
    .option("--version <n>", "version (default: the primary)", (v) => positiveInt(v, "--version"))
    .option("--certify-on-rotate", "certify each new version with this profile when the key rotates")
    .option("--out <file>", "write the certificate and its chain (PEM) here")
    .description("certify a key pair's version under Keyward's CA (CSR signed in the HSM, normal issuance)")
    .action(
      async (
        id: string,
        opts: {
          profile: string;
          subject?: string;
          san?: string[];
          version?: number;
          certifyOnRotate?: boolean;
          out?: string;
        },
      ) => {
        await ctx.withServices(async (s, out) => {
          const sans = (opts.san ?? []).map((entry) => {
            const at = entry.indexOf(":");
            return { type: entry.slice(0, at) as "dns" | "email" | "uri" | "ip", value: entry.slice(at + 1) };
          });
          const result = await s.keyCertification.certify(
            id,
            {
              profile: opts.profile,
              subject: opts.subject,
              sans,
              version: opts.version,
              certifyOnRotate: opts.certifyOnRotate,
            },
            cliActor(),
          );
          const pem = [result.certificate, ...result.chain].map((c) => certificatePem(c)).join("");
          if (opts.out) writeFileSync(opts.out, pem);
          out.result(
            {
              keyId: result.keyId,
              version: result.version,
              serial: result.serial,
              certificate: pem,
              notAfter: result.notAfter.toISOString(),
            },
            () =>
              opts.out
                ? `Version ${result.version} certified: serial ${result.serial}, until ${result.notAfter.toISOString()}; PEM in ${opts.out}`
                : pem.trimEnd(),
          );
        });
      },
    );
  key
    .command("policy")
    .argument("<id>", "key id")
    .addOption(
      new Option("--on-recipient-revoked <policy>", "flag, rotate or compromise")
        .choices(RECIPIENT_POLICIES)
        .makeOptionMandatory(),
    )
    .description("set what revoking a recipient certificate does to the key")
    .action(async (id: string, opts: { onRecipientRevoked: RecipientPolicy }) => {
      await ctx.withServices(async (s, out) => {
        const k = await s.keys.setPolicy(id, opts.onRecipientRevoked, cliActor());
        out.result(keyView(k), () => `${k.name}: on recipient revoked, ${k.onRecipientRevoked}`);
      });
    });
  key
    .command("distribute")
    .argument("<id>", "key id")
    .requiredOption("--certificate <file>", "the recipient's certificate (PEM)")
    .addOption(new Option("--format <format>").choices(["cms", "jwe"]).default("cms"))
    .option("--version <n>", "version to send (default: the primary)", (v) => positiveInt(v, "--version"))
    .option("--out <file>", "write the CMS (DER) or JWE here instead of printing it")
    .description(
      "wrap a distributable key to a checked recipient certificate (openssl cms -decrypt / any JOSE library opens it)",
    )
    .action(
      async (id: string, opts: { certificate: string; format: "cms" | "jwe"; version?: number; out?: string }) => {
        await ctx.withServices(async (s, out) => {
          const result = await s.distribution.distribute(
            id,
            {
              certificate: readOperatorFile(opts.certificate, "certificate"),
              format: opts.format,
              version: opts.version,
            },
            cliActor(),
          );
          if (opts.out) {
            const bytes = result.format === "cms" ? Buffer.from(result.data, "base64") : Buffer.from(result.data);
            writeFileSync(opts.out, bytes);
          }
          out.result(result, () =>
            opts.out
              ? `Version ${result.version} of key ${id} sealed for ${result.recipient.subject} (${result.recipient.serial}) as ${result.format.toUpperCase()} in ${opts.out}`
              : result.format === "cms"
                ? `-----BEGIN CMS-----\n${result.data.replace(/.{64}/g, "$&\n").replace(/\n?$/, "\n")}-----END CMS-----`
                : result.data,
          );
        });
      },
    );
  key
    .command("import-certificate")
    .option("--out <file>", "write the PEM chain here")
    .description("print Keyward's key-import certificate chain: seal keys to it for key import")
    .action(async (opts: { out?: string }) => {
      await ctx.withServices(async (s, out) => {
        const chain = await s.keyImport.importCertificate();
        const pem = chain.map((c) => certificatePem(new Uint8Array(c.rawData))).join("");
        if (opts.out) writeFileSync(opts.out, pem);
        out.result({ certificate: pem, subject: chain[0]!.subject, notAfter: chain[0]!.notAfter.toISOString() }, () =>
          opts.out ? `Import certificate chain written to ${opts.out}` : pem.trimEnd(),
        );
      });
    });
  key
    .command("import")
    .argument("<id>", "key id")
    .requiredOption("--in <file>", "the sealed key: CMS (DER or PEM) or compact JWE ('-' for stdin)")
    .addOption(new Option("--format <format>").choices(["cms", "jwe"]).default("cms"))
    .description("import (BYOK) a key version sealed to the import certificate; it becomes the primary version")
    .action(async (id: string, opts: { in: string; format: "cms" | "jwe" }) => {
      await ctx.withServices(async (s, out) => {
        const raw = readFileSync(opts.in === "-" ? 0 : opts.in);
        const text = raw.toString("latin1");
        const data =
          opts.format === "jwe"
            ? text.trim()
            : text.includes("-----BEGIN")
              ? text.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "")
              : raw.toString("base64");
        const k = await s.keyImport.importVersion(id, opts.format, data, cliActor());
        out.result(
          keyView(k),
          () => `Imported version ${Math.max(...k.versions.map((v) => v.version))} of ${k.name}:\n${showKey(k)}`,
        );
      });
    });
  key
    .command("distributions")
    .argument("<id>", "key id")
    .description("every distribution of the key and whether its recipient was revoked (exposed)")
    .action(async (id: string) => {
      await ctx.withServices(async (s, out) => {
        const items = await s.distribution.list(id);
        out.result({ items }, () =>
          items.length === 0
            ? "No distributions."
            : table([
                ["VERSION", "FORMAT", "RECIPIENT", "SERIAL", "AT", "BY", "EXPOSED"],
                ...items.map((d) => [
                  String(d.version),
                  d.format,
                  d.recipientSubject,
                  d.recipientSerial,
                  d.createdAt.toISOString(),
                  d.createdBy,
                  d.exposedAt ? d.exposedAt.toISOString() : "no",
                ]),
              ]),
        );
      });
    });
  key
    .command("block")
    .description("block a compromised key from future issuance (by SPKI SHA-256, public key or certificate file)")
    .option("--spki-sha256 <hex>")
    .option("--public-key <file>", "PEM public key")
    .option("--certificate <file>", "PEM certificate")
    .option("--revoke-all", "also revoke every unexpired certificate with this key (keyCompromise)")
    .action(async (opts: { spkiSha256?: string; publicKey?: string; certificate?: string; revokeAll?: boolean }) => {
      await ctx.withServices(async (s, out) => {
        const result = await s.revocation.blockKey(
          {
            spkiSha256: opts.spkiSha256,
            publicKey: opts.publicKey ? readOperatorFile(opts.publicKey, "public key") : undefined,
            certificate: opts.certificate ? readOperatorFile(opts.certificate, "certificate") : undefined,
          },
          { revokeAll: opts.revokeAll ?? false, actor: cliActor() },
        );
        for (const caId of new Set(
          await Promise.all(result.revoked.map(async (serial) => (await s.issuance.get(serial)).caId)),
        )) {
          await s.crl.generate(caId, cliActor());
        }
        out.result(
          result,
          () =>
            `Blocked key sha256:${result.spkiSha256}${result.revoked.length ? `; revoked ${result.revoked.join(", ")}` : ""}.`,
        );
      });
    });
}
