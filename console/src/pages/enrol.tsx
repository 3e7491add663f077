import { useState } from "preact/hooks";
import { call, enrolmentDone, logout } from "../api.js";
import { ErrorBox } from "../ui.js";

/**
 * After a recovery-code login (or when an admin asked for it): a new authenticator before anything
 * else. The QR code comes from the API once; the first code from the app confirms it.
 */
export function EnrolPage({ name }: { name: string }) {
  const [enrolment, setEnrolment] = useState<{ otpauthUri: string; qrCode: string } | undefined>();
  const [otp, setOtp] = useState("");
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const attempt = async (work: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await work();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login" id="main">
      <h1>Enrol a new authenticator</h1>
      <p>
        {name}, you logged in with a recovery code (or an admin asked you to enrol again). Until a new authenticator is
        set up, the console shows nothing else.
      </p>
      {!enrolment ? (
        <button
          type="button"
          class="primary"
          disabled={busy}
          onClick={() =>
            attempt(async () => {
              const res = await call<{ otpauthUri: string; qrCode: string }>("/auth/totp/enrol", { body: {} });
              setEnrolment(res.data);
            })
          }
        >
          Show the QR code
        </button>
      ) : (
        <form
          aria-label="Confirm the new authenticator"
          onSubmit={(e) => {
            e.preventDefault();
            void attempt(async () => {
              await call("/auth/totp/confirm", { body: { otp } });
              enrolmentDone();
            });
          }}
        >
          <img src={enrolment.qrCode} alt="QR code of the new authenticator" width={220} height={220} />
          <p class="muted small mono wrap">{enrolment.otpauthUri}</p>
          <label for="enrol-otp">First code from the new app</label>
          <input
            id="enrol-otp"
            inputMode="numeric"
            autoComplete="one-time-code"
            pattern="[0-9]{6}"
            required
            value={otp}
            onInput={(e) => setOtp((e.target as HTMLInputElement).value)}
          />
          <button type="submit" class="primary" disabled={busy}>
            Confirm
          </button>
        </form>
      )}
      <ErrorBox error={error} />
      <button type="button" onClick={() => void logout()}>
        Log out
      </button>
    </main>
  );
}
