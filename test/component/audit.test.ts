import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { sql } from "kysely";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chainHash } from "../../src/audit/index.js";
import { openssl, opensslCsr, startKeyward, type TestKeyward, writeFile } from "../helpers/keyward.js";
import { createPerson, type Person, SteppingClock } from "../helpers/people.js";

let kw: TestKeyward;
const clock = new SteppingClock();
let logs = "";
let carol: Person;
const db = () => kw.services.database.db;

beforeAll(async () => {
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs += chunk.toString();
      done();
    },
  });
  kw = await startKeyward({ clock, logger: pino({ level: "debug" }, sink) });
  carol = await createPerson(kw, clock, "carol", "admin");
});

afterAll(async () => {
  await kw?.close();
});

async function issue(name: string): Promise<string> {
  const { csr } = opensslCsr(kw.dir, name);
  const res = await kw.api("/api/v1/certificates", { body: { csr, profile: "server" } });
  expect(res.status).toBe(201);
  return ((await res.json()) as { serial: string }).serial;
}

async function verify() {
  const res = await kw.api("/api/v1/audit/verify");
  expect(res.status).toBe(200);
  return (await res.json()) as { ok: boolean; events: number; problem?: { seq: number; kind: string; detail: string } };
}

describe("the audit log", () => {
  it("records issuance, revocation and denied requests with who, what and which request", async () => {
    const serial = await issue("audited");
    const revoked = await kw.api(`/api/v1/certificates/${serial}/revoke`, {
      body: { reason: "keyCompromise" },
      headers: { "x-request-id": "req-revoke-1" },
    });
    expect(revoked.status).toBe(200);
    expect((await kw.api("/api/v1/audit", { token: "kw_not-a-token" })).status).toBe(401);

    const res = await kw.api(`/api/v1/audit?target=${serial}`);
    const { items } = (await res.json()) as {
      items: Array<{
        action: string;
        actor: { name: string; requestId?: string; address?: string };
        details: Record<string, unknown>;
      }>;
    };
    expect(items.map((e) => e.action)).toEqual(["certificate.issue", "certificate.revoke"]);
    expect(items[1]!.actor).toMatchObject({ name: "test-admin", requestId: "req-revoke-1", address: "127.0.0.1" });
    expect(items[1]!.details).toMatchObject({ reason: "keyCompromise" });
    const denied = await kw.services.audit.search({ action: "request.denied", limit: 10 });
    expect(denied.at(-1)).toMatchObject({ outcome: "denied", actor: { kind: "anonymous" } });
    expect((await verify()).ok).toBe(true);
  });

  it("fails the operation when its audit event cannot be written, and leaves nothing changed", async () => {
    const serial = await issue("fail-closed");
    // The audit write fails inside the revocation's transaction, as a full disk or a broken table would.
    await sql`CREATE TRIGGER audit_fails BEFORE INSERT ON audit_events WHEN NEW.action = 'certificate.revoke'
              BEGIN SELECT RAISE(ABORT, 'audit storage failed'); END`.execute(db());
    try {
      const res = await kw.api(`/api/v1/certificates/${serial}/revoke`, { body: { reason: "superseded" } });
      expect(res.status).toBeGreaterThanOrEqual(500);
    } finally {
      await sql`DROP TRIGGER audit_fails`.execute(db());
    }
    const cert = (await (await kw.api(`/api/v1/certificates/${serial}`)).json()) as { status: string };
    expect(cert.status).toBe("valid");
    expect(await kw.services.audit.search({ action: "certificate.revoke", targetId: serial, limit: 10 })).toEqual([]);
    expect((await verify()).ok).toBe(true);
  });

  it("signs checkpoints in the HSM with a key certified under our root; openssl verifies them", async () => {
    const checkpoint = await kw.services.audit.checkpoint();
    expect(checkpoint).toBeDefined();
    const file = join(kw.dir, "audit.jsonl");
    const cli = await kw.services.audit.export();
    let text = "";
    for await (const line of cli) text += line;
    writeFile(kw.dir, "audit.jsonl", text);
    const lines = readFileSync(file, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const cp = lines.find((l) => l.type === "checkpoint");
    expect(cp.seq).toBe(checkpoint!.seq);
    // The signer chain verifies against our root with openssl, and the signature over the checkpoint too.
    const [leaf, ...chain] = cp.chain as string[];
    writeFile(kw.dir, "audit-signer.pem", leaf!);
    writeFile(kw.dir, "audit-chain.pem", chain.slice(0, -1).join(""));
    writeFile(kw.dir, "audit-root.pem", chain.at(-1)!);
    expect(
      openssl([
        "verify",
        "-CAfile",
        join(kw.dir, "audit-root.pem"),
        "-untrusted",
        join(kw.dir, "audit-chain.pem"),
        join(kw.dir, "audit-signer.pem"),
      ]),
    ).toContain("OK");
    const message = JSON.stringify({ at: cp.at, hash: cp.hash, seq: cp.seq, type: "keyward-audit-checkpoint" });
    writeFile(kw.dir, "checkpoint.msg", message);
    writeFile(kw.dir, "checkpoint.sig", Buffer.from(cp.signature, "base64"));
    openssl(["x509", "-in", join(kw.dir, "audit-signer.pem"), "-pubkey", "-noout", "-out", join(kw.dir, "audit.pub")]);
    expect(
      openssl([
        "dgst",
        "-sha256",
        "-verify",
        join(kw.dir, "audit.pub"),
        "-signature",
        join(kw.dir, "checkpoint.sig"),
        join(kw.dir, "checkpoint.msg"),
      ]),
    ).toContain("Verified OK");
    // The audit key cannot leave the token.
    const key = await kw.services.database.db.selectFrom("audit_keys").selectAll().executeTakeFirstOrThrow();
    expect(await kw.services.hsm.signingKeys.keyAttributes(key.key_uri)).toMatchObject({
      sensitive: true,
      extractable: false,
    });
  });

  it("reports a storage failure while checking a signer as an error, not as tampering", async () => {
    // The checkpoint signed above names its signer by serial; the certificates become unreadable.
    await sql`ALTER TABLE certificates RENAME TO certificates_unreadable`.execute(db());
    try {
      await expect(kw.services.audit.verify()).rejects.toThrow(/no such table/);
      expect((await kw.api("/api/v1/audit/verify")).status).toBe(500);
    } finally {
      await sql`ALTER TABLE certificates_unreadable RENAME TO certificates`.execute(db());
    }
    expect((await verify()).ok).toBe(true);

    // A checkpoint naming a signer certificate that does not exist is not trusted.
    const last = await db()
      .selectFrom("audit_checkpoints")
      .select(["seq", "signer_serial"])
      .orderBy("seq", "desc")
      .executeTakeFirstOrThrow();
    await db().updateTable("audit_checkpoints").set({ signer_serial: "7e57" }).where("seq", "=", last.seq).execute();
    try {
      expect((await verify()).problem).toMatchObject({ seq: last.seq, kind: "signature" });
    } finally {
      await db()
        .updateTable("audit_checkpoints")
        .set({ signer_serial: last.signer_serial })
        .where("seq", "=", last.seq)
        .execute();
    }
    expect((await verify()).ok).toBe(true);
  });

  it("names the event that was altered, the one that was deleted, and a rewritten chain", async () => {
    const target = 3;
    const original = await db()
      .selectFrom("audit_events")
      .selectAll()
      .where("seq", "=", target)
      .executeTakeFirstOrThrow();

    await db().updateTable("audit_events").set({ actor_name: "mallory" }).where("seq", "=", target).execute();
    expect((await verify()).problem).toMatchObject({ seq: target, kind: "altered" });
    await db().updateTable("audit_events").set({ actor_name: original.actor_name }).where("seq", "=", target).execute();
    expect((await verify()).ok).toBe(true);

    await db().deleteFrom("audit_events").where("seq", "=", target).execute();
    const gap = await verify();
    expect(gap.problem).toMatchObject({ seq: target, kind: "missing" });
    expect(gap.problem!.detail).toBe(`event ${target} is missing: the next stored event is ${target + 1}`);
    await db().insertInto("audit_events").values(original).execute();

    // A careful forger rewrites the event and every later hash: the signed checkpoint still tells.
    const rows = await db().selectFrom("audit_events").selectAll().orderBy("seq").execute();
    let prev = rows.find((r) => r.seq === target - 1)!.hash;
    for (const row of rows.filter((r) => r.seq >= target)) {
      const forged = { ...row, actor_name: row.seq === target ? "mallory" : row.actor_name, prev_hash: prev };
      const event = {
        action: forged.action,
        actor: {
          id: forged.actor_id,
          name: forged.actor_name,
          kind: forged.actor_kind as never,
          ...(forged.request_id ? { requestId: forged.request_id } : {}),
          ...(forged.address ? { address: forged.address } : {}),
        },
        ...(forged.target_type && forged.target_id
          ? { target: { type: forged.target_type, id: forged.target_id } }
          : {}),
        outcome: forged.outcome as never,
        details: JSON.parse(forged.details),
        at: new Date(forged.at),
      };
      const hash = chainHash(prev, Number(row.seq), event);
      await db()
        .updateTable("audit_events")
        .set({ actor_name: forged.actor_name, prev_hash: prev, hash })
        .where("seq", "=", row.seq)
        .execute();
      prev = hash;
    }
    await db().updateTable("audit_head").set({ hash: prev }).execute();
    const rewritten = await verify();
    expect(rewritten.ok).toBe(false);
    expect(rewritten.problem!.kind).toBe("checkpoint");
  });

  it("never writes a PIN, token, password or TOTP seed to the logs or the audit log", async () => {
    await carol.login();
    const rows = await db().selectFrom("audit_events").selectAll().execute();
    const everything = `${logs}\n${JSON.stringify(rows)}`;
    const pin = readFileSync(kw.token.pinFile, "utf8").trim();
    const secrets = {
      pin,
      adminToken: kw.adminToken,
      password: carol.password,
      totpSeed: carol.secret.toString("hex"),
      recoveryCode: carol.recoveryCodes[1]!,
    };
    expect(logs.length).toBeGreaterThan(1000);
    for (const [what, secret] of Object.entries(secrets)) {
      expect(secret.length, what).toBeGreaterThan(5);
      expect(everything.includes(secret), `${what} leaked`).toBe(false);
    }
  });
});
