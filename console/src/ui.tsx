import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "./api.js";

/** Loads data for a page; `reload` fetches again after an action. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]) {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({ loading: true });
  const run = useCallback(() => {
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => setState({ data, loading: false }),
      (error: Error) => setState({ error, loading: false }),
    );
  }, deps);
  useEffect(run, [run]);
  return { ...state, reload: run };
}

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  const e = error as Error;
  const title = e instanceof ApiError ? `${e.title} (${e.status})` : "Something went wrong";
  return (
    <div class="alert error" role="alert">
      <strong>{title}</strong>
      {e.message && e.message !== title ? <span>: {e.message}</span> : null}
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="muted" aria-live="polite">
      Loading {what}…
    </p>
  );
}

export function Badge({ value }: { value: string }) {
  return <span class={`badge badge-${value.replace(/[^a-z-]/gi, "").toLowerCase()}`}>{value}</span>;
}

/** Wide tables scroll sideways on a phone instead of breaking the page. */
export function TableWrap({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    // A scrollable region must be reachable by keyboard to be scrolled without a mouse (WCAG 2.1.1).
    // biome-ignore lint/a11y/noNoninteractiveTabindex: see above
    <section class="table-wrap" aria-label={label} tabIndex={0}>
      {children}
    </section>
  );
}

/**
 * A modal confirmation (native <dialog>: focus stays inside, Escape cancels). With `otp`, it asks
 * for a fresh TOTP code, which sensitive routes need as step-up.
 */
export function ConfirmDialog(props: {
  open: boolean;
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  otp?: boolean;
  danger?: boolean;
  busy?: boolean;
  error?: unknown;
  onConfirm: (otp: string) => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const [otp, setOtp] = useState("");
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (props.open && !dialog.open) {
      setOtp("");
      dialog.showModal();
    } else if (!props.open && dialog.open) dialog.close();
  }, [props.open]);
  return (
    <dialog ref={ref} aria-labelledby="confirm-title" onCancel={props.onCancel} class="dialog">
      <form
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault();
          props.onConfirm(otp);
        }}
      >
        <h2 id="confirm-title">{props.title}</h2>
        <div>{props.children}</div>
        {props.otp ? (
          <p>
            <label for="confirm-otp">Authenticator code (step-up)</label>
            <input
              id="confirm-otp"
              name="otp"
              inputMode="numeric"
              autoComplete="one-time-code"
              pattern="[0-9]{6,8}"
              required
              value={otp}
              onInput={(e) => setOtp((e.target as HTMLInputElement).value)}
            />
          </p>
        ) : null}
        <ErrorBox error={props.error} />
        <div class="actions">
          <button type="button" onClick={props.onCancel}>
            Cancel
          </button>
          <button type="submit" class={props.danger ? "danger" : "primary"} disabled={props.busy}>
            {props.busy ? "Working…" : props.confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}
