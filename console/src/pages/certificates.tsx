import { useState } from "preact/hooks";
import { ApiError, get, query } from "../api.js";
import { day, shortHex } from "../format.js";
import { href } from "../router.js";
import type { CertificateSummary } from "../types.js";
import { Badge, ErrorBox, TableWrap, useLoad } from "../ui.js";

interface Filters {
  name: string;
  serial: string;
  spkiSha256: string;
  profile: string;
  status: string;
  expiresWithinDays: string;
}

const EMPTY: Filters = { name: "", serial: "", spkiSha256: "", profile: "", status: "", expiresWithinDays: "" };

export function CertificateTable({ items, label }: { items: CertificateSummary[]; label: string }) {
  return (
    <TableWrap label={label}>
      <table>
        <thead>
          <tr>
            <th scope="col">Serial</th>
            <th scope="col">Subject / names</th>
            <th scope="col">Profile</th>
            <th scope="col">Issuer</th>
            <th scope="col">Status</th>
            <th scope="col">Expires</th>
          </tr>
        </thead>
        <tbody>
          {items.map((c) => (
            <tr key={c.serial}>
              <td class="mono">
                <a href={href("certificates", c.serial)}>{shortHex(c.serial)}</a>
              </td>
              <td>
                {c.subject}
                <div class="muted small">{c.names.join(", ")}</div>
              </td>
              <td>{c.profile}</td>
              <td>{c.issuer}</td>
              <td>
                <Badge value={c.status} />
                {c.revocationReason ? <div class="muted small">{c.revocationReason}</div> : null}
              </td>
              <td>{day(c.notAfter)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableWrap>
  );
}

export function CertificatesPage() {
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [result, setResult] = useState<{ items: CertificateSummary[]; next: string | null } | undefined>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const profiles = useLoad(() => get<{ items: Array<{ name: string }> }>("/profiles"), []);
  const field = (key: keyof Filters) => ({
    id: `search-${key}`,
    name: key,
    value: filters[key],
    onInput: (e: Event) => setFilters({ ...filters, [key]: (e.target as HTMLInputElement).value }),
  });

  async function search(after?: string) {
    setBusy(true);
    setError(undefined);
    try {
      const serial = filters.serial.trim().toLowerCase().replace(/[:\s]/g, "");
      if (serial) {
        // A serial names one certificate: ask for it directly.
        try {
          setResult({
            items: [await get<CertificateSummary>(`/certificates/${encodeURIComponent(serial)}`)],
            next: null,
          });
        } catch (e) {
          if (e instanceof ApiError && e.status === 404) setResult({ items: [], next: null });
          else throw e;
        }
        return;
      }
      const page = await get<{ items: CertificateSummary[]; next: string | null }>(
        `/certificates${query({
          name: filters.name.trim(),
          spkiSha256: filters.spkiSha256.trim().toLowerCase().replace(/:/g, ""),
          profile: filters.profile,
          status: filters.status,
          expiresWithinDays: filters.expiresWithinDays,
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
    <section aria-labelledby="certificates-title">
      <h1 id="certificates-title">Certificates</h1>
      <form
        class="filters"
        aria-label="Search certificates"
        onSubmit={(e) => {
          e.preventDefault();
          void search();
        }}
      >
        <div>
          <label for="search-name">Name contains</label>
          <input {...field("name")} placeholder="www.example.com" />
        </div>
        <div>
          <label for="search-serial">Serial (hex)</label>
          <input {...field("serial")} class="mono" />
        </div>
        <div>
          <label for="search-spkiSha256">SPKI SHA-256</label>
          <input {...field("spkiSha256")} class="mono" />
        </div>
        <div>
          <label for="search-profile">Profile</label>
          <select {...field("profile")}>
            <option value="">any</option>
            {(profiles.data?.items ?? []).map((p) => (
              <option key={p.name} value={p.name}>
                {p.name}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="search-status">Status</label>
          <select {...field("status")}>
            <option value="">any</option>
            {["valid", "revoked", "expired", "pending", "failed"].map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="search-expiresWithinDays">Expires within (days)</label>
          <input {...field("expiresWithinDays")} type="number" min="1" max="36500" />
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
      <ErrorBox error={error ?? profiles.error} />
      {result ? (
        <>
          <p aria-live="polite">
            {result.items.length} certificate{result.items.length === 1 ? "" : "s"}
          </p>
          {result.items.length ? <CertificateTable items={result.items} label="Search results" /> : null}
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
