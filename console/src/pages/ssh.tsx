import { useState } from "preact/hooks";
import { get, query } from "../api.js";
import { dateTime } from "../format.js";
import type { SshCertificateSummary } from "../types.js";
import { Badge, ErrorBox, TableWrap } from "../ui.js";

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
    </section>
  );
}
