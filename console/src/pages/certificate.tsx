import { useState } from "preact/hooks";
import { call, get, session } from "../api.js";
import { dateTime } from "../format.js";
import { href } from "../router.js";
import { type CertificateSummary, type OcspSummary, REVOCATION_REASONS } from "../types.js";
import { Badge, ConfirmDialog, ErrorBox, Loading, TableWrap, useLoad } from "../ui.js";

interface Details extends CertificateSummary {
  certificate: string | null;
  decoded: string | null;
  chain: Array<{ subject: string; issuer: string; serial: string; notAfter: string }>;
  ocsp: OcspSummary | null;
  history: Array<{ seq: number; at: string; action: string; actor: string; outcome: string; details: object }>;
}

export function CertificatePage({ serial }: { serial: string }) {
  const details = useLoad(() => get<Details>(`/certificates/${encodeURIComponent(serial)}/details`), [serial]);
  const [reason, setReason] = useState<string>("keyCompromise");
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [done, setDone] = useState<string | undefined>();
  const c = details.data;

  async function revoke() {
    setBusy(true);
    setError(undefined);
    try {
      await call(`/certificates/${encodeURIComponent(serial)}/revoke`, { body: { reason } });
      setConfirming(false);
      setDone(`Revoked with reason ${reason}.`);
      details.reload();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="certificate-title">
      <p>
        <a href={href("certificates")}>← Certificates</a>
      </p>
      <h1 id="certificate-title">
        Certificate <span class="mono">{serial}</span>
      </h1>
      <ErrorBox error={details.error} />
      {done ? (
        <p class="alert ok" role="status">
          {done}
        </p>
      ) : null}
      {!c ? (
        <Loading what="the certificate" />
      ) : (
        <>
          <dl class="facts">
            <dt>Status</dt>
            <dd>
              <Badge value={c.status} /> {c.revocationReason ? `${c.revocationReason} at ${dateTime(c.revokedAt)}` : ""}
            </dd>
            {c.invalidityDate ? (
              <>
                <dt>Invalidity date</dt>
                <dd>
                  {dateTime(c.invalidityDate)}{" "}
                  <span class="muted small">
                    (the key is known or suspected compromised since then; in the CRL entry)
                  </span>
                </dd>
              </>
            ) : null}
            <dt>OCSP answers</dt>
            <dd>
              {c.ocsp ? (
                <>
                  <Badge value={c.ocsp.status ?? "none"} />{" "}
                  <span class="muted small">
                    this update {dateTime(c.ocsp.thisUpdate)}, next {dateTime(c.ocsp.nextUpdate)}
                  </span>
                </>
              ) : (
                "—"
              )}
            </dd>
            <dt>Subject</dt>
            <dd>{c.subject}</dd>
            <dt>Names</dt>
            <dd>{c.names.join(", ") || "—"}</dd>
            <dt>Profile</dt>
            <dd>{c.profile}</dd>
            <dt>Issuer</dt>
            <dd>{c.issuer}</dd>
            <dt>Key</dt>
            <dd>
              {c.keyType}, SPKI SHA-256 <span class="mono wrap">{c.spkiSha256}</span>
            </dd>
            <dt>Validity</dt>
            <dd>
              {dateTime(c.notBefore)} – {dateTime(c.notAfter)}
            </dd>
            <dt>Requested by</dt>
            <dd>{c.requestedBy ?? "—"}</dd>
          </dl>
          {session.can("certificates:revoke") && (c.status === "valid" || c.revocationReason === "certificateHold") ? (
            <form
              class="inline"
              aria-label="Revoke this certificate"
              onSubmit={(e) => {
                e.preventDefault();
                setConfirming(true);
              }}
            >
              <label for="revoke-reason">Revocation reason</label>
              <select
                id="revoke-reason"
                value={reason}
                onChange={(e) => setReason((e.target as HTMLSelectElement).value)}
              >
                {REVOCATION_REASONS.map((r) => (
                  <option key={r} value={r}>
                    {r}
                  </option>
                ))}
              </select>
              <button type="submit" class="danger">
                Revoke…
              </button>
            </form>
          ) : null}
          <ConfirmDialog
            open={confirming}
            title="Revoke this certificate?"
            confirmLabel="Revoke"
            danger
            busy={busy}
            error={error}
            onCancel={() => setConfirming(false)}
            onConfirm={() => void revoke()}
          >
            <p>
              Certificate <span class="mono">{serial}</span> will be revoked with reason <strong>{reason}</strong>.
              {reason === "keyCompromise" ? " Its key will be blocked from future issuance." : ""}
            </p>
          </ConfirmDialog>
          <h2>Chain</h2>
          <ol class="chain">
            <li>
              {c.subject} <span class="muted small">(this certificate)</span>
            </li>
            {c.chain.map((link) => (
              <li key={link.serial}>
                {link.subject} <span class="muted small">until {dateTime(link.notAfter)}</span>
              </li>
            ))}
          </ol>
          <h2>History</h2>
          <TableWrap label="Certificate history">
            <table>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Event</th>
                  <th scope="col">By</th>
                  <th scope="col">Outcome</th>
                </tr>
              </thead>
              <tbody>
                {c.history.map((e) => (
                  <tr key={e.seq}>
                    <td>{dateTime(e.at)}</td>
                    <td>{e.action}</td>
                    <td>{e.actor}</td>
                    <td>
                      <Badge value={e.outcome} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
          <details>
            <summary>Decoded certificate</summary>
            <pre class="decoded">{c.decoded}</pre>
          </details>
          <details>
            <summary>PEM</summary>
            <pre class="decoded">{c.certificate}</pre>
          </details>
        </>
      )}
    </section>
  );
}
