import pkcs11js from "pkcs11js";
import { HsmError, HsmKeyNotFoundError, HsmModuleError, HsmTokenNotFoundError } from "../errors/index.js";
import { ThreadPool } from "../threads/index.js";
import { isCkr, toHsmError } from "./errors.js";
import { SessionPool } from "./session-pool.js";
import type { SignRequest } from "./signing-thread.js";
import { formatPkcs11Uri, parsePkcs11Uri } from "./uri.js";

export type Handle = Buffer;

export interface Pkcs11HsmOptions {
  /** Path of the PKCS#11 module (.so). */
  modulePath: string;
  /** CKA label of the token to use. */
  tokenLabel: string;
  /** User PIN; read from the configured pin source by the caller, never logged. */
  pin: string;
  /** Sessions in the pool: how many operations may run in the token at once. */
  sessions?: number;
  /**
   * Threads that sign certificates, OCSP answers and CRLs with a session each, off the event loop
   * (0: signed from the pool, with C_SignInit on the event loop).
   */
  signingThreads?: number;
}

interface LoadedModule {
  p11: pkcs11js.PKCS11;
  users: number;
}

// C_Initialize may run once per process and C_Finalize ends every session in it, so modules are
// shared by all tokens opened in this process and finalised when the last one closes.
const loadedModules = new Map<string, LoadedModule>();

function loadModule(modulePath: string): LoadedModule {
  let loaded = loadedModules.get(modulePath);
  if (loaded) {
    loaded.users++;
    return loaded;
  }
  const p11 = new pkcs11js.PKCS11();
  try {
    p11.load(modulePath);
  } catch (error) {
    throw new HsmModuleError(`cannot load PKCS#11 module ${modulePath}: ${(error as Error).message}`, { cause: error });
  }
  try {
    // Without OS locking the module assumes one thread, and the *Async calls race inside it.
    p11.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (error) {
    if (!isCkr(error, pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED)) throw toHsmError(error, "initialize");
  }
  loaded = { p11, users: 1 };
  loadedModules.set(modulePath, loaded);
  return loaded;
}

function releaseModule(modulePath: string): void {
  const loaded = loadedModules.get(modulePath);
  if (!loaded) return;
  loaded.users--;
  if (loaded.users > 0) return;
  loadedModules.delete(modulePath);
  try {
    loaded.p11.C_Finalize();
  } finally {
    loaded.p11.close();
  }
}

/**
 * The session core of the PKCS#11 adapter: one logged-in token, a pool of sessions, signing
 * threads, and objects found by pkcs11: URI. The facets (signing keys, secret keys, wrapping) do
 * their work through it; nothing outside src/hsm sees it.
 */
export class TokenCore {
  private readonly handles = new Map<string, Handle>();
  private closed = false;
  /** Operations inside the module now: closing waits for them (finalising under one crashes the process). */
  private inFlight = 0;
  private idle: (() => void) | undefined;
  private observe: (<T>(operation: string, run: () => Promise<T>) => Promise<T>) | undefined;

  private constructor(
    private readonly options: Required<Pkcs11HsmOptions>,
    readonly p11: pkcs11js.PKCS11,
    private readonly sessions: Handle[],
    private readonly pool: SessionPool<Handle>,
    /**
     * pkcs11js runs C_SignInit on the calling thread, where the token does real work (SoftHSM
     * decrypts and loads the key; a network HSM makes a round trip): on the event loop that would
     * hold up every other request.
     */
    readonly signingThreads: ThreadPool<SignRequest, Uint8Array> | undefined,
  ) {}

  static async open(options: Pkcs11HsmOptions): Promise<TokenCore> {
    const opts = { sessions: 4, signingThreads: 0, ...options };
    const { p11 } = loadModule(opts.modulePath);
    const sessions: Handle[] = [];
    try {
      const slot = findTokenSlot(p11, opts.tokenLabel, opts.modulePath);
      const open = () => p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      for (let i = 0; i < opts.sessions + opts.signingThreads; i++) sessions.push(open());
      try {
        p11.C_Login(sessions[0]!, pkcs11js.CKU_USER, opts.pin);
      } catch (error) {
        // Login is per application and token: another token core in this process may have done it.
        if (!isCkr(error, pkcs11js.CKR_USER_ALREADY_LOGGED_IN)) throw toHsmError(error, "login");
      }
    } catch (error) {
      for (const session of sessions) p11.C_CloseSession(session);
      releaseModule(opts.modulePath);
      throw toHsmError(error, "open");
    }
    const threadData = sessions.slice(opts.sessions).map((session) => ({ modulePath: opts.modulePath, session }));
    const threads = threadData.length
      ? new ThreadPool<SignRequest, Uint8Array>("signing", new URL("./signing-thread.js", import.meta.url), threadData)
      : undefined;
    return new TokenCore(opts, p11, sessions, new SessionPool(sessions.slice(0, opts.sessions)), threads);
  }

  /** Whether an initialised token with this label is in the module's slots now (no login). */
  static tokenPresent(modulePath: string, label: string): boolean {
    const { p11 } = loadModule(modulePath);
    try {
      findTokenSlot(p11, label, modulePath);
      return true;
    } catch (error) {
      if (error instanceof HsmTokenNotFoundError) return false;
      throw error;
    } finally {
      releaseModule(modulePath);
    }
  }

  get tokenLabel(): string {
    return this.options.tokenLabel;
  }

  /** The URI of an object this token just created. */
  uri(label: string, id: Buffer, type: "private" | "secret-key"): string {
    return formatPkcs11Uri({ token: this.options.tokenLabel, object: label, id, type });
  }

  /** Readiness: the token is present and the session is logged in (C_GetSessionInfo on a pooled session). */
  async ping(): Promise<void> {
    await this.withSession("check the token", (session) => {
      const info = this.p11.C_GetSessionInfo(session);
      // CKS_RO_USER_FUNCTIONS (1) or CKS_RW_USER_FUNCTIONS (3): pkcs11js exports no names for these.
      if (info.state !== 1 && info.state !== 3) throw new HsmError("the token session is not logged in");
    });
  }

  /**
   * Whether the key the URI names is in the token now: searched afresh (never a cached handle), so
   * a key deleted since it was last used reads as missing. Health asks this; a missing key is not
   * an unavailable token.
   */
  async probeKey(uri: string): Promise<"present" | "missing"> {
    const type = parsePkcs11Uri(uri).type;
    const objectClass = type === "secret-key" ? pkcs11js.CKO_SECRET_KEY : pkcs11js.CKO_PRIVATE_KEY;
    return this.withSession("find key", (session) =>
      this.findObjects(session, uri, objectClass).length > 0 ? "present" : "missing",
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A background job (a checkpoint, a CRL) may be signing right now: C_Finalize under a running
    // C_Sign is a crash, not an error. New operations are refused from here; these finish first.
    if (this.inFlight > 0) {
      await new Promise<void>((resolve) => {
        this.idle = resolve;
        setTimeout(resolve, 10_000).unref();
      });
    }
    // The threads use the module: they stop before it can be finalised.
    await this.signingThreads?.close();
    for (const session of this.sessions) {
      try {
        this.p11.C_CloseSession(session);
      } catch {
        // The session is gone either way.
      }
    }
    releaseModule(this.options.modulePath);
  }

  /** Times every token operation (latency and errors by operation), e.g. for Prometheus. */
  instrument(observe: <T>(operation: string, run: () => Promise<T>) => Promise<T>): void {
    this.observe = observe;
  }

  withSession<T>(operation: string, work: (session: Handle) => Promise<T> | T): Promise<T> {
    return this.run(operation, () => this.pool.withSession(work));
  }

  /** Every token operation: refused once closed, timed, and its errors typed. */
  async run<T>(operation: string, work: () => Promise<T>): Promise<T> {
    if (this.closed) throw new HsmError(`HSM ${operation} failed: the HSM connection is closed`);
    const run = async () => {
      this.inFlight++;
      try {
        return await work();
      } catch (error) {
        throw toHsmError(error, operation);
      } finally {
        if (--this.inFlight === 0) this.idle?.();
      }
    };
    return this.observe ? this.observe(operation, run) : run();
  }

  /** Remembers the handle of a private key just created (object handles hold for every session). */
  rememberKey(uri: string, handle: Handle): void {
    this.handles.set(uri, handle);
  }

  forgetKey(uri: string): void {
    this.handles.delete(uri);
  }

  /** withKey for work done elsewhere (a signing thread) with only the key's handle. */
  withKeyHandle<T>(uri: string, operation: string, work: (key: Handle) => Promise<T>): Promise<T> {
    return this.retryStale(uri, async () => {
      const key =
        this.handles.get(uri) ?? (await this.withSession(operation, (session) => this.keyHandle(session, uri)));
      return this.run(operation, () => work(key));
    });
  }

  /**
   * Runs work with the private key's handle. Handles are cached; when one has gone stale (the key was
   * re-created, or another instance changed the token) the key is found again once by its URI.
   */
  withKey<T>(uri: string, operation: string, work: (session: Handle, key: Handle) => Promise<T> | T): Promise<T> {
    return this.retryStale(uri, () =>
      this.withSession(operation, (session) => work(session, this.keyHandle(session, uri))),
    );
  }

  withSecretKey<T>(uri: string, operation: string, work: (session: Handle, key: Handle) => Promise<T> | T): Promise<T> {
    return this.withSession(operation, (session) =>
      work(session, this.findObject(session, uri, pkcs11js.CKO_SECRET_KEY)),
    );
  }

  findObject(session: Handle, uri: string, objectClass: number): Handle {
    const found = this.findObjects(session, uri, objectClass);
    const kind =
      objectClass === pkcs11js.CKO_PUBLIC_KEY
        ? "public key"
        : objectClass === pkcs11js.CKO_SECRET_KEY
          ? "secret key"
          : "private key";
    if (found.length === 0) throw new HsmKeyNotFoundError(`HSM has no ${kind} matching ${uri}`);
    if (found.length > 1) throw new HsmError(`HSM has ${found.length} ${kind}s matching ${uri}; the URI must name one`);
    return found[0]!;
  }

  findObjects(session: Handle, uri: string, objectClass: number): Handle[] {
    let parsed: ReturnType<typeof parsePkcs11Uri>;
    try {
      parsed = parsePkcs11Uri(uri);
    } catch (error) {
      throw new HsmError((error as Error).message);
    }
    if (parsed.token !== undefined && parsed.token !== this.options.tokenLabel) {
      throw new HsmTokenNotFoundError(`key ${uri} is on token "${parsed.token}", not on "${this.options.tokenLabel}"`);
    }
    if (parsed.id === undefined && parsed.object === undefined) throw new HsmError(`${uri} names no object or id`);
    const template: pkcs11js.Template = [{ type: pkcs11js.CKA_CLASS, value: objectClass }];
    if (parsed.id !== undefined) template.push({ type: pkcs11js.CKA_ID, value: parsed.id });
    if (parsed.object !== undefined) template.push({ type: pkcs11js.CKA_LABEL, value: parsed.object });
    this.p11.C_FindObjectsInit(session, template);
    try {
      return this.p11.C_FindObjects(session, 16);
    } finally {
      this.p11.C_FindObjectsFinal(session);
    }
  }

  /** The private key's handle, cached (object handles hold for every session of the process). */
  private keyHandle(session: Handle, uri: string): Handle {
    let key = this.handles.get(uri);
    if (!key) {
      key = this.findObject(session, uri, pkcs11js.CKO_PRIVATE_KEY);
      this.handles.set(uri, key);
    }
    return key;
  }

  private async retryStale<T>(uri: string, attempt: () => Promise<T>): Promise<T> {
    for (let tries = 0; ; tries++) {
      try {
        return await attempt();
      } catch (error) {
        const stale =
          error instanceof HsmError &&
          (error.ckr === "CKR_OBJECT_HANDLE_INVALID" || error.ckr === "CKR_KEY_HANDLE_INVALID");
        if (!stale || tries > 0) throw error;
        this.handles.delete(uri);
      }
    }
  }
}

function findTokenSlot(p11: pkcs11js.PKCS11, label: string, modulePath: string): Handle {
  const labels: string[] = [];
  for (const slot of p11.C_GetSlotList(true)) {
    const info = p11.C_GetTokenInfo(slot);
    const tokenLabel = info.label.trim();
    if (tokenLabel === label) {
      if ((info.flags & pkcs11js.CKF_TOKEN_INITIALIZED) === 0) break;
      return slot;
    }
    if (tokenLabel !== "") labels.push(tokenLabel);
  }
  const present = labels.length ? `tokens present: ${labels.map((l) => `"${l}"`).join(", ")}` : "no initialised token";
  throw new HsmTokenNotFoundError(`no token labelled "${label}" in ${modulePath} (${present})`);
}
