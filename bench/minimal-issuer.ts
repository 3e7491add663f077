// The reference for issue 27's target 1: the least a Node.js server can spend on one certificate
// while keeping Keyward's properties, so that Keyward's CPU per certificate can be read against what
// Node itself allows as well as against the crypto floor. It does the same work, with nothing else:
//
// - POST a JSON body with a PEM CSR and a bearer token (compared in constant time);
// - decode the CSR and check its self-signature (Keyward's DER reader, importSpki, node:crypto);
// - the intent (the TBS) and its audit event, hash-chained, durable before the token signs;
// - the certificate signed in the token (C_Sign, ECDSA P-256), and its OCSP answer signed too;
// - the certificate and the answer durable before the reply, which carries the PEM.
//
// Writes are group-committed in SQLite (WAL, synchronous = FULL), one transaction for what is ready
// together, as Keyward does. What it leaves out is what a product adds: express and its middleware,
// a query builder, policy and profiles, the lint gate, rate limits, metrics, worker threads, the
// indexes that listing and search need. Run as its own process by `bench/run.ts`:
// `node --import tsx bench/minimal-issuer.ts MODULE TOKEN_LABEL PIN DB_FILE PORT BEARER`.
import { createHash, randomBytes, timingSafeEqual, verify } from "node:crypto";
import { createServer } from "node:http";
import Database from "better-sqlite3";
import { commonNameSubject, leafExtensions, tbsCertificate } from "../src/pki/certificate-der.js";
import { bitString, NULL, octetString, oid, sequence, unsignedInteger } from "../src/pki/der.js";
import { ecdsaRawToDer } from "../src/pki/ecdsa-signature.js";
import { certificatePem, pemBlocks } from "../src/pki/pem.js";
import { decodeCsr, signatureCheck } from "../src/pki/pkcs10.js";
import { newSerial } from "../src/pki/serial.js";
import { importSpki } from "../src/pki/spki.js";
import { responseData, successfulResponse } from "../src/revocation/ocsp-der.js";
import { bareP256Signer } from "./bare-token.js";

const [modulePath, tokenLabel, pin, dbFile, port, bearer] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string,
];

// A token object, as a CA key is (SoftHSM checks its object file on each use).
const { signDigest } = bareP256Signer(modulePath, tokenLabel, pin, true);
const signature = Buffer.alloc(128);
function tokenSign(data: Buffer): Buffer {
  return ecdsaRawToDer(signDigest(createHash("sha256").update(data).digest(), signature));
}
const ecdsaWithSha256 = sequence(oid("1.2.840.10045.4.3.2"));
const issuer = commonNameSubject("Minimal Issuer");
const issuerKeyHash = randomBytes(20);
const responderCertificate = randomBytes(400); // its size on the wire; nothing parses it here

const db = new Database(dbFile);
db.pragma("journal_mode = WAL");
db.pragma("synchronous = FULL");
db.exec(`create table if not exists certificates (serial text primary key, status text, tbs blob,
  certificate blob, ocsp blob, names text, not_after text);
  create table if not exists audit (seq integer primary key, event text, hash blob)`);
const insertIntent = db.prepare(
  "insert into certificates (serial, status, tbs, names, not_after) values (?, 'pending', ?, ?, ?)",
);
const storeIssued = db.prepare("update certificates set status = 'issued', certificate = ?, ocsp = ? where serial = ?");
const appendEvent = db.prepare("insert into audit (event, hash) values (?, ?)");
let head = Buffer.alloc(32);

/** Group commit: the writes of every request ready in this turn of the event loop, one transaction. */
let ready: Array<{ write: () => void; done: () => void }> = [];
const commitAll = db.transaction((writes: Array<() => void>) => {
  for (const write of writes) write();
});
function durably(write: () => void): Promise<void> {
  return new Promise((done) => {
    if (ready.push({ write, done }) === 1)
      setImmediate(() => {
        const group = ready;
        ready = [];
        commitAll(group.map((w) => w.write));
        for (const w of group) w.done();
      });
  });
}
function audit(event: object): void {
  const text = JSON.stringify(event);
  head = createHash("sha256").update(head).update(text).digest();
  appendEvent.run(text, head);
}

const expected = createHash("sha256").update(`Bearer ${bearer}`).digest();
async function issue(body: Buffer): Promise<{ status: number; body?: string }> {
  const { csr } = JSON.parse(body.toString("utf8")) as { csr: string };
  const decoded = decodeCsr(pemBlocks(csr, "CERTIFICATE REQUEST")[0]!);
  const check = signatureCheck(decoded);
  if (!check.hash || !verify(check.hash, check.info, await importSpki(check.spki), check.signature))
    return { status: 400 };
  // Keyward's serials: milliseconds first, so the primary key grows at its right edge.
  const hex = newSerial();
  const now = new Date();
  const notAfter = new Date(now.getTime() + 90 * 86_400_000);
  const names = (decoded.subjectAltNames ?? []).map(({ type, value }) => ({ type, value }));
  const tbs = tbsCertificate({
    serial: hex,
    signatureAlgorithm: ecdsaWithSha256,
    issuer,
    notBefore: now,
    notAfter,
    subject: commonNameSubject(decoded.commonName),
    spki: decoded.spki,
    extensions: [
      leafExtensions.basicConstraints(),
      leafExtensions.keyUsage(["digitalSignature"]),
      leafExtensions.extendedKeyUsage(["1.3.6.1.5.5.7.3.1"]),
      leafExtensions.subjectKeyIdentifier(decoded.spki),
      leafExtensions.subjectAltName(names, false),
      leafExtensions.certificatePolicies(["2.23.140.1.2.1"]),
    ],
  });
  const namesJson = JSON.stringify(names);
  await durably(() => {
    insertIntent.run(hex, tbs, namesJson, notAfter.toISOString());
    audit({ action: "certificate.issue", serial: hex, at: now.toISOString(), names });
  });
  const certificate = sequence(tbs, ecdsaWithSha256, bitString(tokenSign(tbs)));
  const certId = sequence(
    sequence(oid("1.3.14.3.2.26"), NULL),
    octetString(createHash("sha1").update(issuer).digest()),
    octetString(issuerKeyHash),
    unsignedInteger(Buffer.from(hex, "hex")),
  );
  const tbsResponse = responseData(issuerKeyHash, now, [
    { certId, status: { status: "good" }, thisUpdate: now, nextUpdate: new Date(now.getTime() + 7 * 86_400_000) },
  ]);
  const ocsp = successfulResponse(
    sequence(tbsResponse, ecdsaWithSha256, bitString(tokenSign(tbsResponse))),
    responderCertificate,
  );
  await durably(() => storeIssued.run(certificate, ocsp, hex));
  return { status: 201, body: JSON.stringify({ serial: hex, certificate: certificatePem(certificate) }) };
}

createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    const presented = createHash("sha256")
      .update(req.headers.authorization ?? "")
      .digest();
    const answer = timingSafeEqual(presented, expected)
      ? issue(Buffer.concat(chunks))
      : Promise.resolve({ status: 401 });
    answer
      .catch(() => ({ status: 400 }))
      .then(({ status, body }: { status: number; body?: string }) => {
        res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body ?? "") });
        res.end(body);
      });
  });
}).listen(Number(port), "127.0.0.1", () => console.log("listening"));
