import { useState } from "preact/hooks";
import { login } from "../api.js";
import { ErrorBox } from "../ui.js";

export function LoginPage({ notice }: { notice?: string }) {
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [otp, setOtp] = useState("");
  const [recovery, setRecovery] = useState(false);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const value = (set: (v: string) => void) => (e: Event) => set((e.target as HTMLInputElement).value);
  return (
    <main class="login" id="main">
      <h1>Keyward console</h1>
      {notice ? (
        <p class="alert info" role="status">
          {notice}
        </p>
      ) : null}
      <form
        aria-label="Log in"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(undefined);
          try {
            await login(name, password, recovery ? { recoveryCode: otp } : { otp });
          } catch (err) {
            setError(err);
            setOtp("");
          } finally {
            setBusy(false);
          }
        }}
      >
        <label for="login-name">Name</label>
        <input id="login-name" autoComplete="username" required value={name} onInput={value(setName)} />
        <label for="login-password">Password</label>
        <input
          id="login-password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onInput={value(setPassword)}
        />
        {recovery ? (
          <>
            <label for="login-recovery">Recovery code</label>
            <input
              key="recovery"
              id="login-recovery"
              autoComplete="off"
              required
              placeholder="abcd-efgh-ijkl"
              value={otp}
              onInput={value(setOtp)}
            />
            <p class="muted small">Each code works once; you will then enrol a new authenticator.</p>
          </>
        ) : (
          <>
            <label for="login-otp">Authenticator code</label>
            <input
              key="otp"
              id="login-otp"
              inputMode="numeric"
              autoComplete="one-time-code"
              pattern="[0-9]{6,8}"
              required
              value={otp}
              onInput={value(setOtp)}
            />
          </>
        )}
        <button
          type="button"
          class="link"
          onClick={() => {
            setRecovery(!recovery);
            setOtp("");
          }}
        >
          {recovery ? "Use the authenticator app" : "Lost your authenticator? Use a recovery code"}
        </button>
        <ErrorBox error={error} />
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Logging in…" : "Log in"}
        </button>
      </form>
    </main>
  );
}
