import { type ChildProcess, spawn } from "node:child_process";
import { freePort } from "./keyward.js";

/**
 * pebble-challtestsrv (Debian package `pebble`): a real DNS server for test names. Every A query
 * answers 127.0.0.1; TXT records for dns-01 are set through its management API.
 */
export interface ChallTestSrv {
  dns: string;
  /** Base URL of the management API (set-txt, clear-txt). */
  management: string;
  setTxt(host: string, value: string): Promise<void>;
  clearTxt(host: string): Promise<void>;
  /** CAA records for a name, e.g. [{ tag: "issue", value: "ca.example" }]. */
  addCaa(host: string, policies: Array<{ tag: string; value: string }>): Promise<void>;
  stop(): void;
}

export async function startChallTestSrv(): Promise<ChallTestSrv> {
  const dnsPort = await freePort();
  const managementPort = await freePort();
  const child: ChildProcess = spawn(
    "pebble-challtestsrv",
    [
      "-http01",
      "",
      "-https01",
      "",
      "-tlsalpn01",
      "",
      "-defaultIPv6",
      "",
      "-defaultIPv4",
      "127.0.0.1",
      "-dns01",
      `127.0.0.1:${dnsPort}`,
      "-management",
      `127.0.0.1:${managementPort}`,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const management = `http://127.0.0.1:${managementPort}`;
  for (let i = 0; i < 50; i++) {
    const up = await fetch(`${management}/set-default-ipv4`, {
      method: "POST",
      body: JSON.stringify({ ip: "127.0.0.1" }),
    })
      .then((r) => r.ok)
      .catch(() => false);
    if (up) break;
    if (child.exitCode !== null) throw new Error("pebble-challtestsrv exited; is the pebble package installed?");
    await new Promise((r) => setTimeout(r, 100));
  }
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${management}${path}`, { method: "POST", body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`challtestsrv ${path}: ${res.status}`);
  };
  return {
    dns: `127.0.0.1:${dnsPort}`,
    management,
    setTxt: (host, value) => post("/set-txt", { host: host.endsWith(".") ? host : `${host}.`, value }),
    clearTxt: (host) => post("/clear-txt", { host: host.endsWith(".") ? host : `${host}.` }),
    addCaa: (host, policies) => post("/add-caa", { host: host.endsWith(".") ? host : `${host}.`, policies }),
    stop: () => child.kill(),
  };
}
