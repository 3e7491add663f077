import { useState } from "preact/hooks";
import { call, get, query, session } from "../api.js";
import { dateTime } from "../format.js";
import type { SshCertificateSummary } from "../types.js";
import { Badge, ConfirmDialog, ErrorBox, TableWrap } from "../ui.js";

const SSH_REVOCATION_REASONS = [
  "unspecified",
  "keyCompromise",
  "affiliationChanged",
  "superseded",
  "cessationOfOperation",
] as const;

interface Filters {
  principal: string;
  keyId: string;
  fingerprint: string;
  type: string;
  status: string;
}

const EMPTY: Filters = { principal: "", keyId: "", fingerprint: "", type: "", status: "" };

/** SSH certificates: search by principal, key ID, key fingerprint, type and status (docs/ssh.md). */
export function SshPage() {
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [result, setResult] = useState<{ items: SshCertificateSummary[]; next: string | null } | undefined>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [revoking, setRevoking] = useState<SshCertificateSummary | undefined>();
  const [reason, setReason] = useState<string>("unspecified");
  const [revokeError, setRevokeError] = useState<unknown>();
  const [done, setDone] = useState<string | undefined>();
  const canRevoke = session.can("ssh:revoke");

  async function revoke(certificate: SshCertificateSummary) {
    setBusy(true);
    setRevokeError(undefined);
    try {
      await call(`/ssh/certificates/${encodeURIComponent(certificate.serial)}/revoke`, { body: { reason } });
      setRevoking(undefined);
      setDone(`SSH certificate ${certificate.serial} revoked (${reason}); the KRL at /ssh/revoked.krl lists it.`);
      const updated = await get<SshCertificateSummary>(`/ssh/certificates/${encodeURIComponent(certificate.serial)}`);
      setResult((r) => r && { ...r, items: r.items.map((i) => (i.serial === updated.serial ? updated : i)) });
    } catch (e) {
      setRevokeError(e);
    } finally {
      setBusy(false);
    }
  }
  const field = (key: keyof Filters) => ({
    id: `ssh-${key}`,
    name: key,
    value: filters[key],
    onInput: (e: Event) => setFilters({ ...filters, [key]: (e.target as HTMLInputElement).value }),
  });

  async function search(after?: string) {
    setBusy(true);
    setError(undefined);
    try {
      const page = await get<{ items: SshCertificateSummary[]; next: string | null }>(
        `/ssh/certificates${query({
          principal: filters.principal.trim(),
          keyId: filters.keyId.trim(),
          fingerprint: filters.fingerprint.trim(),
          type: filters.type,
          status: filters.status,
          limit: 50,
          after,
        })}`,
      );
      setResult(after && result ? { items: [...result.items, ...page.items], next: page.next } : page);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="ssh-title">
      <h1 id="ssh-title">SSH certificates</h1>
      <form
        class="filters"
        aria-label="Search SSH certificates"
        onSubmit={(e) => {
          e.preventDefault();
          void search();
        }}
      >
        <div>
          <label for="ssh-principal">Principal</label>
          <input {...field("principal")} placeholder="alice" />
        </div>
        <div>
          <label for="ssh-keyId">Key ID</label>
          <input {...field("keyId")} class="mono" />
        </div>
        <div>
          <label for="ssh-fingerprint">Key fingerprint</label>
          <input {...field("fingerprint")} class="mono" placeholder="SHA256:…" />
        </div>
        <div>
          <label for="ssh-type">Type</label>
          <select {...field("type")}>
            <option value="">any</option>
            <option value="user">user</option>
            <option value="host">host</option>
          </select>
        </div>
        <div>
          <label for="ssh-status">Status</label>
          <select {...field("status")}>
            <option value="">any</option>
            {["valid", "revoked", "expired", "pending", "failed"].map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            Search
          </button>
          <button
            type="button"
            onClick={() => {
              setFilters(EMPTY);
              setResult(undefined);
            }}
          >
            Clear
          </button>
        </div>
      </form>
      <ErrorBox error={error} />
      {done ? <p role="status">{done}</p> : null}
      {result ? (
        <>
          <p aria-live="polite">
            {result.items.length} SSH certificate{result.items.length === 1 ? "" : "s"}
          </p>
          {result.items.length ? (
            <TableWrap label="SSH certificates found">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Serial</th>
                    <th scope="col">Type</th>
                    <th scope="col">Principals</th>
                    <th scope="col">Key</th>
                    <th scope="col">Status</th>
                    <th scope="col">Valid until</th>
                    <th scope="col">Requested by</th>
                    {canRevoke ? <th scope="col">Action</th> : null}
                  </tr>
                </thead>
                <tbody>
                  {result.items.map((c) => (
                    <tr key={c.serial}>
                      <td class="mono">
                        {c.serial}
                        <div class="muted small">{c.keyId}</div>
                      </td>
                      <td>{c.type}</td>
                      <td>{c.principals.join(", ")}</td>
                      <td class="mono small">
                        {c.keyAlgorithm}
                        <div class="muted">{c.fingerprint}</div>
                      </td>
                      <td>
                        <Badge value={c.status} />
                        {c.revocationReason ? <div class="muted small">{c.revocationReason}</div> : null}
                      </td>
                      <td>{dateTime(c.validBefore)}</td>
                      <td>{c.requestedBy}</td>
                      {canRevoke ? (
                        <td>
                          {c.status === "valid" ? (
                            <button
                              type="button"
                              class="danger"
                              aria-label={`Revoke SSH certificate ${c.serial}`}
                              onClick={() => {
                                setRevokeError(undefined);
                                setReason("unspecified");
                                setRevoking(c);
                              }}
                            >
                              Revoke…
                            </button>
                          ) : null}
                        </td>
                      ) : null}
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableWrap>
          ) : null}
          {result.next ? (
            <button type="button" onClick={() => void search(result.next!)} disabled={busy}>
              More
            </button>
          ) : null}
        </>
      ) : null}
      <ConfirmDialog
        open={revoking !== undefined}
        title="Revoke this SSH certificate?"
        confirmLabel="Revoke"
        danger
        busy={busy}
        error={revokeError}
        onCancel={() => setRevoking(undefined)}
        onConfirm={() => revoking && void revoke(revoking)}
      >
        <p>
          SSH certificate <span class="mono">{revoking?.serial}</span> ({revoking?.principals.join(", ")}) will be
          listed in the KRL; servers refuse it once they fetch it.
        </p>
        <p>
          <label for="ssh-revoke-reason">Reason</label>{" "}
          <select
            id="ssh-revoke-reason"
            value={reason}
            onChange={(e) => setReason((e.target as HTMLSelectElement).value)}
          >
            {SSH_REVOCATION_REASONS.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </p>
        {reason === "keyCompromise" ? <p>Its key will be blocked: no SSH or X.509 certificate for it again.</p> : null}
      </ConfirmDialog>
    </section>
  );
}
