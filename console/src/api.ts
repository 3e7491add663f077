// The console speaks only to /api/v1 on its own origin, with the person's session token: every
// action runs with that person's own permissions, exactly as any other API client.

export interface Session {
  token: string;
  expiresAt: string;
  user: { id: string; name: string; role: string };
  permissions: string[];
  /** After a recovery-code login: nothing but enrolling a new authenticator until it is done. */
  totpEnrolmentRequired?: boolean;
}

const STORAGE_KEY = "keyward.session";

/** An RFC 7807 problem document from the API, or a network failure. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
  ) {
    super(detail || title);
  }
}

type Listener = (session: Session | null, reason?: string) => void;
const listeners = new Set<Listener>();
let current: Session | null = load();
let expiryTimer: ReturnType<typeof setTimeout> | undefined;

function load(): Session | null {
  try {
    const text = sessionStorage.getItem(STORAGE_KEY);
    if (!text) return null;
    const session = JSON.parse(text) as Session;
    return new Date(session.expiresAt) > new Date() ? session : null;
  } catch {
    return null;
  }
}

function set(session: Session | null, reason?: string): void {
  current = session;
  clearTimeout(expiryTimer);
  if (session) {
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
    const ms = new Date(session.expiresAt).getTime() - Date.now();
    expiryTimer = setTimeout(() => set(null, "Your session expired. Log in again."), Math.max(0, ms));
  } else {
    sessionStorage.removeItem(STORAGE_KEY);
  }
  for (const listener of listeners) listener(session, reason);
}

export const session = {
  get: (): Session | null => current,
  subscribe(listener: Listener): () => void {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
  can: (permission: string): boolean => current?.permissions.includes(permission) ?? false,
  /** Restarts the expiry timer of a session restored from storage. */
  resume(): void {
    if (current) set(current);
  },
};

async function problemOf(res: Response): Promise<ApiError> {
  let title = res.statusText;
  let detail = "";
  try {
    const body = (await res.json()) as { title?: string; detail?: string };
    title = body.title ?? title;
    detail = body.detail ?? "";
  } catch {
    // Not a problem document: the status line is all there is.
  }
  return new ApiError(res.status, title, detail);
}

export interface CallOptions {
  method?: "GET" | "POST";
  body?: unknown;
  /** A fresh TOTP code for step-up routes. */
  otp?: string;
}

/** Calls /api/v1 with the session; the result and the HTTP status (201 ran, 202 waits for approvals). */
export async function call<T>(path: string, options: CallOptions = {}): Promise<{ status: number; data: T }> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (current) headers.authorization = `Bearer ${current.token}`;
  if (options.otp) headers["x-keyward-otp"] = options.otp;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["content-type"] = "application/json";
  }
  const res = await fetch(`/api/v1${path}`, {
    method: options.method ?? (body ? "POST" : "GET"),
    headers,
    body,
    credentials: "omit",
    cache: "no-store",
  });
  // With a step-up code, 401 means the code was refused; the session itself still stands.
  if (res.status === 401 && current && !options.otp) {
    set(null, "Your session ended. Log in again.");
  }
  if (!res.ok) throw await problemOf(res);
  const data = res.status === 204 ? (undefined as T) : ((await res.json()) as T);
  return { status: res.status, data };
}

export const get = async <T>(path: string): Promise<T> => (await call<T>(path)).data;

/** Password plus either the authenticator's code or a recovery code. */
export async function login(
  name: string,
  password: string,
  second: { otp: string } | { recoveryCode: string },
): Promise<void> {
  const res = await fetch("/api/v1/auth/login", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ name, password, ...second }),
    credentials: "omit",
  });
  if (!res.ok) throw await problemOf(res);
  const body = (await res.json()) as Omit<Session, "permissions">;
  current = { ...body, permissions: [] };
  const me = await get<{ permissions: string[] }>("/me");
  set({ ...body, permissions: me.permissions });
}

/** The new authenticator is confirmed: the session may use the console again. */
export function enrolmentDone(): void {
  if (current) set({ ...current, totpEnrolmentRequired: false });
}

export async function logout(): Promise<void> {
  try {
    if (current) await call("/auth/logout", { method: "POST" });
  } finally {
    set(null, "You are logged out.");
  }
}

export const query = (params: Record<string, string | number | undefined>): string => {
  const entries = Object.entries(params).filter(([, v]) => v !== undefined && v !== "");
  return entries.length ? `?${new URLSearchParams(entries.map(([k, v]) => [k, String(v)])).toString()}` : "";
};
