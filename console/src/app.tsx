import { useEffect, useState } from "preact/hooks";
import { logout, type Session, session } from "./api.js";
import { AuditPage } from "./pages/audit.js";
import { CertificatePage } from "./pages/certificate.js";
import { CertificatesPage } from "./pages/certificates.js";
import { CompromisedKeyPage } from "./pages/compromised.js";
import { KeysPage } from "./pages/keys.js";
import { EnrolPage } from "./pages/enrol.js";
import { LoginPage } from "./pages/login.js";
import { OverviewPage } from "./pages/overview.js";
import { SshPage } from "./pages/ssh.js";
import { href, useRoute } from "./router.js";

const PAGES = [
  { id: "overview", label: "Overview", permission: "overview:read" },
  { id: "certificates", label: "Certificates", permission: "certificates:read" },
  { id: "compromised", label: "Compromised key", permission: "certificates:read" },
  { id: "ssh", label: "SSH", permission: "ssh:read" },
  { id: "keys", label: "Keys", permission: "keys:read" },
  { id: "audit", label: "Audit", permission: "audit:read" },
] as const;

function SessionClock({ expiresAt }: { expiresAt: string }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  const seconds = Math.max(0, Math.round((new Date(expiresAt).getTime() - now) / 1000));
  // "expires in 14 min", not "14:41": a countdown must not read as a clock time.
  const left = seconds >= 60 ? `${Math.ceil(seconds / 60)} min` : `${seconds} s`;
  return (
    <span class="muted" title={`Session ends at ${expiresAt}`}>
      session expires in {left}
    </span>
  );
}

export function App() {
  const [current, setCurrent] = useState<Session | null>(session.get());
  const [notice, setNotice] = useState<string | undefined>();
  const route = useRoute();
  useEffect(() => {
    session.resume();
    return session.subscribe((s, reason) => {
      setCurrent(s);
      if (reason) setNotice(reason);
    });
  }, []);

  // After navigating, keyboard and screen-reader users start at the new page's content.
  const path = route.join("/");
  useEffect(() => {
    if (path) document.getElementById("main")?.focus({ preventScroll: true });
  }, [path]);

  if (!current) return <LoginPage notice={notice} />;
  if (current.totpEnrolmentRequired) return <EnrolPage name={current.user.name} />;

  const allowed = PAGES.filter((p) => session.can(p.permission));
  const [page, ...rest] = route;
  const active = allowed.find((p) => p.id === page) ?? allowed[0];
  let content = <p>Your role has no pages in the console.</p>;
  if (page === "certificates" && rest[0] && session.can("certificates:read"))
    content = <CertificatePage serial={rest[0]} />;
  else if (active?.id === "overview") content = <OverviewPage />;
  else if (active?.id === "certificates") content = <CertificatesPage />;
  else if (active?.id === "compromised") content = <CompromisedKeyPage />;
  else if (active?.id === "ssh") content = <SshPage />;
  else if (active?.id === "keys") content = <KeysPage />;
  else if (active?.id === "audit") content = <AuditPage />;

  return (
    <div class="layout">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Keyward</span>
        <nav aria-label="Main">
          <ul>
            {allowed.map((p) => (
              <li key={p.id}>
                <a href={href(p.id)} aria-current={active?.id === p.id ? "page" : undefined}>
                  {p.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          <span>
            {current.user.name} <span class="badge">{current.user.role}</span>
          </span>
          <SessionClock expiresAt={current.expiresAt} />
          <button type="button" onClick={() => void logout()}>
            Log out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {content}
      </main>
    </div>
  );
}
