import { useState } from "preact/hooks";
import { call, get, session } from "../api.js";
import { dateTime, day } from "../format.js";
import { href } from "../router.js";
import { Badge, ConfirmDialog, ErrorBox, Loading, TableWrap, useLoad } from "../ui.js";

interface CaInfo {
  id: string;
  kind: "root" | "intermediate";
  parent: string | null;
  default: boolean;
  subject: string;
  keyType: string;
  keyUri: string;
  notBefore: string;
  notAfter: string;
  daysLeft: number;
  revokedAt: string | null;
  crl: { number: number; thisUpdate: string; nextUpdate: string; fresh: boolean } | null;
  ocspResponder: { serial: string; keyUri: string; notAfter: string; daysLeft: number } | null;
  /** Whether the CA key is in its token now (health's check), and whether that token is online. */
  key: { status: "ok" | "warning" | "failing"; detail: string; online: boolean } | null;
}

interface Warning {
  level: string;
  code: string;
  message: string;
  caId?: string;
  keyUri?: string;
  serials?: string[];
}

interface Overview {
  at: string;
  cas: CaInfo[];
  ocsp: { certificates: number; answered: number; dueForRefresh: number; unanswered: number };
  approvals: Array<{
    id: string;
    operation: string;
    summary: string;
    requestedBy: string;
    requestedById: string;
    approverRole: string;
    requiredApprovals: number;
    votes: number;
    expiresAt: string;
  }>;
  audit: { ok: boolean; events: number; problem?: { seq: number; kind: string; detail: string } };
  warnings: Warning[];
}

type Activity = { days: Array<{ day: string; issued: number; revoked: number }> };

/** Bars per day as SVG (attributes only: no inline styles under the CSP). */
function DailyChart({ title, data, series }: { title: string; data: Activity["days"]; series: "issued" | "revoked" }) {
  const values = data.map((d) => d[series]);
  const max = Math.max(1, ...values);
  const total = values.reduce((a, b) => a + b, 0);
  const width = 300;
  const height = 80;
  const bar = width / Math.max(1, data.length);
  const id = `chart-${series}`;
  return (
    <figure class="chart">
      <figcaption id={id}>
        {title}: {total} in {data.length} days
      </figcaption>
      <svg viewBox={`0 0 ${width} ${height + 14}`} role="img" aria-labelledby={id} class={`series-${series}`}>
        <title>{title}</title>
        {data.map((d, i) => {
          const h = (d[series] / max) * height;
          return (
            <rect key={d.day} x={i * bar + 1} y={height - h} width={Math.max(1, bar - 2)} height={h} class="bar">
              <title>
                {d.day}: {d[series]} {series}
              </title>
            </rect>
          );
        })}
        <line x1="0" y1={height} x2={width} y2={height} class="axis" />
        <text x="0" y={height + 12} class="tick">
          {data[0]?.day.slice(5)}
        </text>
        <text x={width} y={height + 12} class="tick end">
          {data[data.length - 1]?.day.slice(5)}
        </text>
      </svg>
    </figure>
  );
}

type Decision = { approval: Overview["approvals"][number]; decision: "approve" | "reject" };

export function OverviewPage() {
  const overview = useLoad(() => get<Overview>("/overview"), []);
  const activity = useLoad(() => get<Activity>("/stats?days=30"), []);
  const [deciding, setDeciding] = useState<Decision | undefined>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [message, setMessage] = useState<string | undefined>();
  const o = overview.data;
  const me = session.get()?.user;
  // Dual control: never one's own request, and only the role the request names.
  const mayDecide = (a: Overview["approvals"][number]) =>
    session.can("approvals:decide") && a.requestedById !== me?.id && a.approverRole === me?.role;

  async function decide(otp: string) {
    if (!deciding) return;
    setBusy(true);
    setError(undefined);
    try {
      const { data } = await call<{ status: string }>(
        `/approvals/${encodeURIComponent(deciding.approval.id)}/${deciding.decision}`,
        {
          body: {},
          otp,
        },
      );
      setMessage(`${deciding.approval.summary}: ${data.status}.`);
      setDeciding(undefined);
      overview.reload();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }
  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Overview</h1>
      <ErrorBox error={overview.error ?? activity.error} />
      {!o ? (
        <Loading what="the overview" />
      ) : (
        <>
          <section aria-labelledby="warnings-title">
            <h2 id="warnings-title">Warnings</h2>
            {o.warnings.length === 0 ? (
              <p class="alert ok">No warnings: CAs, CRLs, OCSP and the audit chain look healthy.</p>
            ) : (
              <ul class="warnings">
                {o.warnings.map((w) => (
                  <li key={w.code + w.message} class={`alert ${w.level}`}>
                    <Badge value={w.level} /> {w.message}
                    <WarningLinks warning={w} />
                  </li>
                ))}
              </ul>
            )}
          </section>
          <section aria-labelledby="hierarchy-title">
            <h2 id="hierarchy-title">CA hierarchy</h2>
            <TableWrap label="CA hierarchy">
              <table class="stack">
                <thead>
                  <tr>
                    <th scope="col">CA</th>
                    <th scope="col">Key</th>
                    <th scope="col">In the token</th>
                    <th scope="col">Validity</th>
                    <th scope="col">Days left</th>
                    <th scope="col">CRL</th>
                    <th scope="col">OCSP responder</th>
                  </tr>
                </thead>
                <tbody>
                  {o.cas.map((ca) => (
                    <tr key={ca.id} id={`ca-${ca.id}`} class={ca.parent ? "child" : ""}>
                      <th scope="row">
                        {ca.parent ? "└ " : ""}
                        {ca.id} <Badge value={ca.kind} />
                        {ca.default ? <Badge value="default" /> : null}
                        {ca.revokedAt ? <Badge value="revoked" /> : null}
                        <div class="muted small">{ca.subject}</div>
                      </th>
                      <td data-label="Key">{ca.keyType}</td>
                      <td data-label="In the token">
                        {ca.key ? (
                          <>
                            <Badge
                              value={ca.key.status === "ok" ? (ca.key.online ? "online" : "offline") : "missing"}
                            />
                            <div class="muted small wrap">{ca.key.detail}</div>
                          </>
                        ) : (
                          <span class="muted">not checked ({ca.revokedAt ? "revoked" : "expired"})</span>
                        )}
                        <div class="mono small wrap">{ca.keyUri}</div>
                      </td>
                      <td data-label="Validity">
                        {day(ca.notBefore)} – {day(ca.notAfter)}
                      </td>
                      <td data-label="Days left">{ca.daysLeft}</td>
                      <td data-label="CRL">
                        {ca.crl ? (
                          <>
                            #{ca.crl.number} <Badge value={ca.crl.fresh ? "fresh" : "stale"} />
                            <div class="muted small">next {dateTime(ca.crl.nextUpdate)}</div>
                          </>
                        ) : (
                          <span class="muted">{ca.kind === "root" ? "signed at root ceremonies" : "none yet"}</span>
                        )}
                      </td>
                      <td data-label="OCSP responder">
                        {ca.ocspResponder ? (
                          <>
                            <span class="mono small">{ca.ocspResponder.serial.slice(0, 12)}…</span>
                            <div class="muted small">
                              {ca.ocspResponder.daysLeft} days left ·{" "}
                              <span class="mono">{ca.ocspResponder.keyUri}</span>
                            </div>
                          </>
                        ) : (
                          <span class="muted">
                            {ca.kind === "root"
                              ? "none: intermediates are checked against the root CRL"
                              : "not yet issued"}
                          </span>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableWrap>
          </section>
          <section aria-labelledby="activity-title">
            <h2 id="activity-title">Last 30 days</h2>
            {activity.data ? (
              <div class="charts">
                <DailyChart title="Certificates issued" data={activity.data.days} series="issued" />
                <DailyChart title="Certificates revoked" data={activity.data.days} series="revoked" />
              </div>
            ) : (
              <Loading what="activity" />
            )}
          </section>
          <div class="cards">
            <section aria-labelledby="ocsp-title" class="card">
              <h2 id="ocsp-title">OCSP cache</h2>
              <dl>
                <dt>Unexpired certificates</dt>
                <dd>{o.ocsp.certificates}</dd>
                <dt>With a pre-signed answer</dt>
                <dd>{o.ocsp.answered}</dd>
                <dt>Due for re-signing</dt>
                <dd>{o.ocsp.dueForRefresh}</dd>
                <dt>Without an answer</dt>
                <dd>{o.ocsp.unanswered}</dd>
              </dl>
            </section>
            <section aria-labelledby="audit-title" class="card">
              <h2 id="audit-title">Audit chain</h2>
              <p>
                <Badge value={o.audit.ok ? "verified" : "broken"} /> {o.audit.ok ? `${o.audit.events} events` : null}
              </p>
              {o.audit.problem ? (
                <p>
                  First problem: event {o.audit.problem.seq} {o.audit.problem.kind}.
                </p>
              ) : null}
              {session.can("audit:read") ? <a href="#/audit">Open the audit log</a> : null}
            </section>
            <section aria-labelledby="approvals-title" class="card">
              <h2 id="approvals-title">Pending approvals</h2>
              {o.approvals.length === 0 ? (
                <p class="muted">None.</p>
              ) : (
                <ul>
                  {o.approvals.map((a) => (
                    <li key={a.id}>
                      {a.summary}{" "}
                      <span class="muted small">
                        ({a.votes}/{a.requiredApprovals} {a.approverRole} approvals, by {a.requestedBy}, expires{" "}
                        {dateTime(a.expiresAt)})
                      </span>
                      {mayDecide(a) ? (
                        <div class="actions">
                          <button
                            type="button"
                            class="primary"
                            onClick={() => setDeciding({ approval: a, decision: "approve" })}
                          >
                            Approve…
                          </button>
                          <button type="button" onClick={() => setDeciding({ approval: a, decision: "reject" })}>
                            Reject…
                          </button>
                        </div>
                      ) : null}
                    </li>
                  ))}
                </ul>
              )}
            </section>
          </div>
          {message ? (
            <p class="alert ok" role="status">
              {message}
            </p>
          ) : null}
          <ConfirmDialog
            open={deciding !== undefined}
            title={deciding?.decision === "approve" ? "Approve this request?" : "Reject this request?"}
            confirmLabel={deciding?.decision === "approve" ? "Approve" : "Reject"}
            danger={deciding?.decision === "approve"}
            otp
            busy={busy}
            error={error}
            onCancel={() => setDeciding(undefined)}
            onConfirm={(otp) => void decide(otp)}
          >
            <p>
              {deciding?.approval.summary}, requested by {deciding?.approval.requestedBy}.
              {deciding?.decision === "approve"
                ? " With the last approval needed, it runs at once."
                : " It will not run."}
            </p>
          </ConfirmDialog>
          <p class="muted small">As of {dateTime(o.at)}</p>
        </>
      )}
    </section>
  );
}

/** What a warning is about, linked: its certificates' pages, or its CA's row in the hierarchy. */
function WarningLinks({ warning }: { warning: Warning }) {
  const serials = warning.serials ?? [];
  if (serials.length === 0 && !warning.caId) return null;
  return (
    <div class="small">
      {serials.map((serial) => (
        <a key={serial} class="mono" href={href("certificates", serial)}>
          {serial}{" "}
        </a>
      ))}
      {warning.caId ? (
        <a
          href={`#ca-${warning.caId}`}
          onClick={(e) => {
            // The hash is the router's: scroll to the row instead of navigating.
            e.preventDefault();
            document.getElementById(`ca-${warning.caId}`)?.scrollIntoView();
          }}
        >
          CA {warning.caId} in the hierarchy
        </a>
      ) : null}
    </div>
  );
}
