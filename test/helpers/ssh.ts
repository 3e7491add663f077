import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** A key pair made by `ssh-keygen` (a tool we did not write); returns the private key path and .pub line. */
export function sshKeygen(
  dir: string,
  name: string,
  type: "ed25519" | "ecdsa" | "rsa" | "dsa" = "ed25519",
  bits?: number,
) {
  const path = join(dir, name);
  execFileSync("ssh-keygen", [
    "-q",
    "-t",
    type,
    ...(bits ? ["-b", String(bits)] : []),
    "-N",
    "",
    "-C",
    name,
    "-f",
    path,
  ]);
  return { path, pub: readFileSync(`${path}.pub`, "utf8").trim() };
}

/** `ssh-keygen -L -f cert`: OpenSSH's own reading of a certificate. */
export function sshKeygenShow(certFile: string): string {
  return execFileSync("ssh-keygen", ["-L", "-f", certFile], { encoding: "utf8" });
}

/** `ssh-keygen -l -f pub`: a key's SHA256 fingerprint as OpenSSH prints it. */
export function sshFingerprint(pubFile: string): string {
  return execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", pubFile], { encoding: "utf8" }).split(/\s+/)[1]!;
}

/** `ssh-keygen -Q -f krl cert`: exit 0 and "ok" when not revoked, exit 1 "REVOKED" when revoked. */
export function krlQuery(krlFile: string, file: string): { revoked: boolean; output: string } {
  const r = spawnSync("ssh-keygen", ["-Q", "-f", krlFile, file], { encoding: "utf8" });
  if (r.status !== 0 && r.status !== 1) throw new Error(`ssh-keygen -Q failed (${r.status}): ${r.stderr}`);
  return { revoked: r.status === 1, output: `${r.stdout}${r.stderr}` };
}
