import { useState } from "preact/hooks";
import { call, get, session } from "../api.js";
import { dateTime, day } from "../format.js";
import { Badge, ConfirmDialog, ErrorBox, Loading, TableWrap, useLoad } from "../ui.js";
import { KeyPairPanel } from "./key-pair.js";

interface KeyVersion {
  version: number;
  state: string;
  keyUri: string;
  createdAt: string;
  destroyAfter: string | null;
  destroyedAt: string | null;
  spkiSha256?: string;
  certificateSerial?: string | null;
}

interface ManagedKey {
  id: string;
  name: string;
  algorithm: string;
  purpose: string;
  distributable: boolean;
  /** token: an object in the token; sealed: wrapped by a token key, unwrapped per use (docs/hsm.md). */
  protection?: "token" | "sealed";
  /** Key pairs (ECDSA, Ed25519, RSA): docs/kms-key-pairs.md. */
  keyPair?: boolean;
  rotationDays: number | null;
  tags: string[];
  onRecipientRevoked: string;
  createdAt: string;
  versions: KeyVersion[];
}

interface EscrowPolicy {
  keyId: string | null;
  tag: string | null;
  agentIds: string[];
  threshold: number;
}

interface Distribution {
  id: string;
  version: number;
  format: string;
  recipient: { serial: string; subject: string };
  createdAt: string;
  exposed: boolean;
  exposureReason: string | null;
}

/** Which versions may still be scheduled for destruction (NIST SP 800-57: never an active one). */
const DESTROYABLE = new Set(["pre-activation", "deactivated", "compromised"]);

interface Action {
  title: string;
  description: string;
  label: string;
  path: string;
  body?: unknown;
  otp?: boolean;
  danger?: boolean;
}

function nextRotation(k: ManagedKey): string {
  if (!k.rotationDays) return "manual";
  const newest = k.versions.reduce((a, b) => (a.createdAt > b.createdAt ? a : b));
  return day(new Date(new Date(newest.createdAt).getTime() + k.rotationDays * 86_400_000).toISOString());
}

export function KeysPage() {
  const keys = useLoad(async () => {
    const { items } = await get<{ items: ManagedKey[] }>("/keys");
    const [distributions, policies, agents] = await Promise.all([
      Promise.all(items.map((k) => get<{ items: Distribution[] }>(`/keys/${encodeURIComponent(k.id)}/distributions`))),
      get<{ items: EscrowPolicy[] }>("/escrow/policies"),
      get<{ items: Array<{ id: string; name: string }> }>("/escrow/agents"),
    ]);
    const agentName = new Map(agents.items.map((a) => [a.id, a.name]));
    return items.map((key, i) => {
      // The key's own policy, else one for a tag it carries.
      const policy =
        policies.items.find((p) => p.keyId === key.id) ??
        policies.items.find((p) => p.tag !== null && key.tags.includes(p.tag));
      const escrow = policy
        ? `${policy.threshold} of ${policy.agentIds.length} (${policy.agentIds.map((id) => agentName.get(id) ?? id).join(", ")})${policy.tag ? ` by tag ${policy.tag}` : ""}`
        : null;
      return { key, distributions: distributions[i]!.items, escrow };
    });
  }, []);
  const [action, setAction] = useState<Action | undefined>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [message, setMessage] = useState<string | undefined>();
  const canManage = session.can("keys:manage");

  async function run(otp: string) {
    if (!action) return;
    setBusy(true);
    setError(undefined);
    try {
      const res = await call<{ summary?: string; requiredApprovals?: number }>(action.path, {
        body: action.body ?? {},
        ...(action.otp ? { otp } : {}),
      });
      setMessage(
        res.status === 202
          ? `Filed for approval: ${res.data.summary} (needs ${res.data.requiredApprovals} approval(s)).`
          : `${action.title.replace(/\?$/, "")}: done.`,
      );
      setAction(undefined);
      keys.reload();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  const ask = (a: Action) => {
    setError(undefined);
    setAction(a);
  };

  return (
    <section aria-labelledby="keys-title">
      <h1 id="keys-title">Keys</h1>
      {message ? (
        <p class="alert ok" role="status">
          {message}
        </p>
      ) : null}
      <ErrorBox error={keys.error} />
      {!keys.data ? (
        <Loading what="keys" />
      ) : keys.data.length === 0 ? (
        <p class="muted">No keys yet.</p>
      ) : (
        keys.data.map(({ key, distributions, escrow }) => {
          const path = `/keys/${encodeURIComponent(key.id)}`;
          const live = key.versions.filter((v) => v.state !== "destroyed");
          const suspended = live.some((v) => v.state === "suspended");
          // The newest active version encrypts; older active ones may be retired.
          const primary = Math.max(0, ...key.versions.filter((v) => v.state === "active").map((v) => v.version));
          const exposed = distributions.filter((d) => d.exposed).length;
          return (
            <article key={key.id} class="card key" aria-labelledby={`key-${key.id}`}>
              <h2 id={`key-${key.id}`}>
                {key.name} <span class="muted small">{key.algorithm}</span>
              </h2>
              <p>
                Purpose {key.purpose};{" "}
                {key.distributable
                  ? "distributable"
                  : key.protection === "sealed"
                    ? "never distributed"
                    : "never leaves the token"}
                ; rotation {key.rotationDays ? `every ${key.rotationDays} days, next ${nextRotation(key)}` : "manual"};{" "}
                {distributions.length} distribution{distributions.length === 1 ? "" : "s"}
                {exposed ? (
                  <>
                    , <Badge value="exposed" /> {exposed}
                  </>
                ) : null}
                .
              </p>
              <dl class="facts">
                <dt>Primary version</dt>
                <dd>{primary ? `v${primary} (encrypts and wraps)` : "none active: nothing encrypts with this key"}</dd>
                <dt>Protection</dt>
                <dd data-protection={key.protection ?? "token"}>
                  {key.protection === "sealed"
                    ? "sealed: wrapped by a token key, unwrapped into memory for each use,"
                    : "in the token (HSM),"}{" "}
                  {key.distributable ? "sensitive; leaves it only wrapped to a checked recipient" : "never extractable"}
                </dd>
                <dt>Escrow</dt>
                <dd>{escrow ? `escrowed ${escrow}` : "not escrowed"}</dd>
                <dt>When a recipient is revoked</dt>
                <dd>
                  {{
                    flag: "flag the distribution as exposed",
                    rotate: "rotate the key",
                    compromise: "mark the version compromised",
                  }[key.onRecipientRevoked] ?? key.onRecipientRevoked}
                </dd>
              </dl>
              {key.keyPair ? <KeyPairPanel id={key.id} purpose={key.purpose} versions={key.versions} /> : null}
              {canManage ? (
                <div class="actions">
                  <button
                    type="button"
                    onClick={() =>
                      ask({
                        title: `Rotate ${key.name}?`,
                        description:
                          "A new version is generated in the token and becomes primary; older versions still decrypt.",
                        label: "Rotate",
                        path: `${path}/rotate`,
                      })
                    }
                  >
                    Rotate
                  </button>
                  {suspended ? (
                    <button
                      type="button"
                      onClick={() =>
                        ask({
                          title: `Resume ${key.name}?`,
                          description: "Suspended versions become active again.",
                          label: "Resume",
                          path: `${path}/state`,
                          body: { state: "active" },
                        })
                      }
                    >
                      Resume
                    </button>
                  ) : (
                    <button
                      type="button"
                      onClick={() =>
                        ask({
                          title: `Suspend ${key.name}?`,
                          description: "Its versions stop encrypting and decrypting until resumed.",
                          label: "Suspend",
                          path: `${path}/state`,
                          body: { state: "suspended", reason: "suspended from the console" },
                          danger: true,
                        })
                      }
                    >
                      Suspend
                    </button>
                  )}
                </div>
              ) : null}
              <TableWrap label={`Versions of ${key.name}`}>
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Version</th>
                      <th scope="col">State</th>
                      <th scope="col">Created</th>
                      <th scope="col">HSM object</th>
                      <th scope="col">Lifecycle</th>
                    </tr>
                  </thead>
                  <tbody>
                    {key.versions.map((v) => (
                      <tr key={v.version}>
                        <td>{v.version}</td>
                        <td>
                          <Badge value={v.state} />
                        </td>
                        <td>{day(v.createdAt)}</td>
                        <td class="mono small wrap">{v.state === "destroyed" ? "—" : v.keyUri}</td>
                        <td>
                          {v.destroyedAt
                            ? `destroyed ${dateTime(v.destroyedAt)}`
                            : v.destroyAfter
                              ? `scheduled after ${dateTime(v.destroyAfter)}`
                              : ""}
                          {canManage && v.state === "active" && v.version !== primary ? (
                            <button
                              type="button"
                              onClick={() =>
                                ask({
                                  title: `Deactivate version ${v.version} of ${key.name}?`,
                                  description: "It stops encrypting but still decrypts.",
                                  label: "Deactivate",
                                  path: `${path}/state`,
                                  body: { state: "deactivated", version: v.version },
                                })
                              }
                            >
                              Deactivate v{v.version}
                            </button>
                          ) : null}
                          {canManage && DESTROYABLE.has(v.state) && !v.destroyAfter ? (
                            <button
                              type="button"
                              class="danger"
                              onClick={() =>
                                ask({
                                  title: `Schedule destruction of version ${v.version} of ${key.name}?`,
                                  description:
                                    "After the waiting period the version is destroyed in the token; data encrypted with it can no longer be decrypted. Needs a fresh code, and approvals when the policy asks.",
                                  label: "Schedule destruction",
                                  path: `${path}/versions/${v.version}/destroy`,
                                  otp: true,
                                  danger: true,
                                })
                              }
                            >
                              Schedule destruction of v{v.version}
                            </button>
                          ) : null}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </TableWrap>
              {distributions.length ? (
                <TableWrap label={`Distributions of ${key.name}`}>
                  <table>
                    <thead>
                      <tr>
                        <th scope="col">Version</th>
                        <th scope="col">Recipient</th>
                        <th scope="col">Format</th>
                        <th scope="col">When</th>
                        <th scope="col">Exposure</th>
                      </tr>
                    </thead>
                    <tbody>
                      {distributions.map((d) => (
                        <tr key={d.id}>
                          <td>{d.version}</td>
                          <td>{d.recipient.subject}</td>
                          <td>{d.format}</td>
                          <td>{dateTime(d.createdAt)}</td>
                          <td>{d.exposed ? <Badge value="exposed" /> : "—"}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </TableWrap>
              ) : null}
            </article>
          );
        })
      )}
      <ConfirmDialog
        open={action !== undefined}
        title={action?.title ?? ""}
        confirmLabel={action?.label ?? ""}
        otp={action?.otp}
        danger={action?.danger}
        busy={busy}
        error={error}
        onCancel={() => setAction(undefined)}
        onConfirm={(otp) => void run(otp)}
      >
        <p>{action?.description}</p>
      </ConfirmDialog>
    </section>
  );
}
