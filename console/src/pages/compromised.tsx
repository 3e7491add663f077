import { useState } from "preact/hooks";
import { call, session } from "../api.js";
import { dateTime, shortHex } from "../format.js";
import { href } from "../router.js";
import type { CertificateSummary, OcspSummary } from "../types.js";
import { Badge, ConfirmDialog, ErrorBox, TableWrap } from "../ui.js";
import { CertificateTable } from "./certificates.js";

interface Lookup {
  spkiSha256: string;
  blocked: { at: string; by: string | null; reason: string } | null;
  certificates: CertificateSummary[];
  truncated: boolean;
}

interface Outcome {
  spkiSha256: string;
  revoked: string[];
  crls: Array<{ issuer: string; number: number; thisUpdate: string; nextUpdate: string }>;
  certificates: Array<{ serial: string; issuer: string; ocsp: OcspSummary | null }>;
}

interface Pending {
  id: string;
  summary: string;
  requiredApprovals: number;
  approverRole: string;
}

/** What to send for the pasted text: a PEM certificate, a PEM public key, or a hex SPKI hash. */
function reference(text: string): Record<string, string> {
  const trimmed = text.trim();
  if (trimmed.includes("-----BEGIN CERTIFICATE-----")) return { certificate: trimmed };
  if (trimmed.includes("-----BEGIN PUBLIC KEY-----")) return { publicKey: trimmed };
  return { spkiSha256: trimmed.toLowerCase().replace(/[:\s]/g, "") };
}

export function CompromisedKeyPage() {
  const [text, setText] = useState("");
  const [found, setFound] = useState<Lookup | undefined>();
  const [outcome, setOutcome] = useState<Outcome | undefined>();
  const [pending, setPending] = useState<Pending | undefined>();
  const [error, setError] = useState<unknown>();
  const [confirmError, setConfirmError] = useState<unknown>();
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);

  async function find(keepOutcome = false) {
    setBusy(true);
    setError(undefined);
    if (!keepOutcome) {
      setOutcome(undefined);
      setPending(undefined);
    }
    try {
      setFound((await call<Lookup>("/public-keys/lookup", { body: reference(text) })).data);
    } catch (e) {
      setFound(undefined);
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  async function blockAndRevoke(otp: string) {
    if (!found) return;
    setBusy(true);
    setConfirmError(undefined);
    try {
      const res = await call<Outcome | Pending>("/public-keys/compromised", {
        body: { spkiSha256: found.spkiSha256 },
        otp,
      });
      setConfirming(false);
      if (res.status === 202) setPending(res.data as Pending);
      else setOutcome(res.data as Outcome);
      // The list above now shows the key blocked and its certificates revoked.
      await find(true);
    } catch (e) {
      setConfirmError(e);
    } finally {
      setBusy(false);
    }
  }

  const open = found?.certificates.filter((c) => c.status === "valid").length ?? 0;
  return (
    <section aria-labelledby="compromised-title">
      <h1 id="compromised-title">Compromised key</h1>
      <p class="muted">
        Paste a certificate or a public key (PEM), or an SPKI SHA-256, to see every certificate with that key; then
        block the key and revoke them all with reason keyCompromise.
      </p>
      <form
        aria-label="Find a key"
        onSubmit={(e) => {
          e.preventDefault();
          void find();
        }}
      >
        <label for="key-text">Certificate, public key or SPKI SHA-256</label>
        <textarea
          id="key-text"
          rows={6}
          class="mono"
          required
          value={text}
          onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
        />
        <button type="submit" class="primary" disabled={busy}>
          Find certificates
        </button>
      </form>
      <ErrorBox error={error} />
      {found ? (
        <section aria-labelledby="found-title">
          <h2 id="found-title">
            Key <span class="mono wrap">{found.spkiSha256}</span>
          </h2>
          <p>
            {found.blocked ? (
              <>
                <Badge value="blocked" /> since {dateTime(found.blocked.at)} by {found.blocked.by ?? "—"}
              </>
            ) : (
              <Badge value="not blocked" />
            )}{" "}
            {found.certificates.length} certificate{found.certificates.length === 1 ? "" : "s"} with this key, {open}{" "}
            valid{found.truncated ? " (list truncated)" : ""}.
          </p>
          {found.certificates.length ? (
            <CertificateTable items={found.certificates} label="Certificates with this key" />
          ) : null}
          {session.can("keys:block") && !outcome ? (
            <button type="button" class="danger" onClick={() => setConfirming(true)}>
              Block key and revoke all {open} certificate{open === 1 ? "" : "s"}…
            </button>
          ) : null}
        </section>
      ) : null}
      <ConfirmDialog
        open={confirming}
        title="Block this key and revoke its certificates?"
        confirmLabel="Block and revoke all"
        danger
        otp
        busy={busy}
        error={confirmError}
        onCancel={() => setConfirming(false)}
        onConfirm={(otp) => void blockAndRevoke(otp)}
      >
        <p>
          Key <span class="mono">{shortHex(found?.spkiSha256 ?? "", 24)}</span> will be blocked for good and its {open}{" "}
          valid certificate{open === 1 ? "" : "s"} revoked with reason <strong>keyCompromise</strong>. This cannot be
          undone.
        </p>
      </ConfirmDialog>
      {pending ? (
        <p class="alert warning" role="status">
          Filed for approval: {pending.summary}. It runs once {pending.requiredApprovals} other {pending.approverRole}
          {pending.requiredApprovals === 1 ? "" : "s"} approve it.
        </p>
      ) : null}
      {outcome ? (
        <section aria-labelledby="outcome-title">
          <h2 id="outcome-title">Done: key blocked, {outcome.revoked.length} revoked</h2>
          <ul>
            {outcome.crls.map((crl) => (
              <li key={crl.issuer}>
                New CRL for <strong>{crl.issuer}</strong>: number <strong class="crl-number">{crl.number}</strong>{" "}
                <span class="muted small">(next update {dateTime(crl.nextUpdate)})</span>
              </li>
            ))}
          </ul>
          <TableWrap label="OCSP answers after revocation">
            <table>
              <thead>
                <tr>
                  <th scope="col">Serial</th>
                  <th scope="col">Issuer</th>
                  <th scope="col">OCSP says</th>
                  <th scope="col">Reason</th>
                </tr>
              </thead>
              <tbody>
                {outcome.certificates.map((c) => (
                  <tr key={c.serial}>
                    <td class="mono">
                      <a href={href("certificates", c.serial)}>{shortHex(c.serial)}</a>
                    </td>
                    <td>{c.issuer}</td>
                    <td>
                      <Badge value={c.ocsp?.status ?? "none"} />
                    </td>
                    <td>{c.ocsp?.reason ?? "—"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        </section>
      ) : null}
    </section>
  );
}
