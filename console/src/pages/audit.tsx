import { useState } from "preact/hooks";
import { get, query } from "../api.js";
import { dateTime } from "../format.js";
import { Badge, ErrorBox, Loading, TableWrap, useLoad } from "../ui.js";

interface AuditEvent {
  seq: number;
  at: string;
  action: string;
  actor: { name: string; kind: string };
  target: { type: string; id: string } | null;
  outcome: string;
  details: Record<string, unknown>;
}

interface Verification {
  ok: boolean;
  events: number;
  checkpoints?: number;
  problem?: { seq: number; kind: string; detail: string };
}

const FIELDS = ["action", "actor", "target", "outcome", "since", "until"] as const;
type Filters = Record<(typeof FIELDS)[number], string>;
const EMPTY: Filters = { action: "", actor: "", target: "", outcome: "", since: "", until: "" };
const PAGE = 50;

export function AuditPage() {
  const verification = useLoad(() => get<Verification>("/audit/verify"), []);
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [applied, setApplied] = useState<Filters>(EMPTY);
  const [more, setMore] = useState<AuditEvent[]>([]);
  const [moreError, setMoreError] = useState<unknown>();
  const toIso = (local: string) => (local ? new Date(`${local}Z`).toISOString() : undefined);
  // Newest first: what happened last is what an operator looks for; "Older" pages back.
  const params = (f: Filters, before?: number) =>
    query({ ...f, since: toIso(f.since), until: toIso(f.until), limit: PAGE, order: "desc", before });
  const events = useLoad(() => get<{ items: AuditEvent[] }>(`/audit${params(applied)}`), [applied]);
  const items = [...(events.data?.items ?? []), ...more];
  const v = verification.data;
  const field = (key: keyof Filters) => ({
    id: `audit-${key}`,
    name: key,
    value: filters[key],
    onInput: (e: Event) => setFilters({ ...filters, [key]: (e.target as HTMLInputElement).value }),
  });

  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit log</h1>
      <ErrorBox error={verification.error} />
      {v ? (
        <p class={`alert ${v.ok ? "ok" : "critical"}`} role="status">
          <Badge value={v.ok ? "verified" : "broken"} /> Chain of {v.events} events
          {v.ok
            ? " verifies, with its signed checkpoints."
            : ` do not verify: event ${v.problem?.seq} ${v.problem?.kind} (${v.problem?.detail}).`}
        </p>
      ) : (
        <Loading what="the chain verification" />
      )}
      <form
        class="filters"
        aria-label="Filter audit events"
        onSubmit={(e) => {
          e.preventDefault();
          setMore([]);
          setApplied(filters);
        }}
      >
        <div>
          <label for="audit-action">Action</label>
          <input {...field("action")} placeholder="certificate.revoke" />
        </div>
        <div>
          <label for="audit-actor">Actor</label>
          <input {...field("actor")} />
        </div>
        <div>
          <label for="audit-target">Target id</label>
          <input {...field("target")} class="mono" />
        </div>
        <div>
          <label for="audit-outcome">Outcome</label>
          <select {...field("outcome")}>
            <option value="">any</option>
            {["success", "denied", "failure"].map((o) => (
              <option key={o} value={o}>
                {o}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="audit-since">Since (UTC)</label>
          <input {...field("since")} type="datetime-local" />
        </div>
        <div>
          <label for="audit-until">Until (UTC)</label>
          <input {...field("until")} type="datetime-local" />
        </div>
        <div class="actions">
          <button type="submit" class="primary">
            Filter
          </button>
        </div>
      </form>
      <ErrorBox error={events.error ?? moreError} />
      {events.loading && !events.data ? (
        <Loading what="events" />
      ) : (
        <TableWrap label="Audit events">
          <table>
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">When</th>
                <th scope="col">Action</th>
                <th scope="col">Actor</th>
                <th scope="col">Target</th>
                <th scope="col">Outcome</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {items.map((e) => (
                <tr key={e.seq}>
                  <td>{e.seq}</td>
                  <td>{dateTime(e.at)}</td>
                  <td>{e.action}</td>
                  <td>
                    {e.actor.name} <span class="muted small">{e.actor.kind}</span>
                  </td>
                  <td class="mono small wrap">{e.target ? `${e.target.type}:${e.target.id}` : "—"}</td>
                  <td>
                    <Badge value={e.outcome} />
                  </td>
                  <td class="small wrap">
                    <Details details={e.details} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      {items.length > 0 && items.length % PAGE === 0 ? (
        <button
          type="button"
          onClick={async () => {
            try {
              const next = await get<{ items: AuditEvent[] }>(`/audit${params(applied, items[items.length - 1]!.seq)}`);
              setMore([...more, ...next.items]);
            } catch (e) {
              setMoreError(e);
            }
          }}
        >
          Older events
        </button>
      ) : null}
    </section>
  );
}

/** Details as "name: value" lines, not raw JSON; nested values stay compact. */
function Details({ details }: { details: Record<string, unknown> }) {
  const entries = Object.entries(details);
  if (entries.length === 0) return null;
  return (
    <dl class="details">
      {entries.map(([name, value]) => (
        <div key={name}>
          <dt>{name}</dt>
          <dd class={typeof value === "string" && value.length > 24 ? "mono" : undefined}>
            {typeof value === "object" && value !== null ? JSON.stringify(value) : String(value)}
          </dd>
        </div>
      ))}
    </dl>
  );
}
