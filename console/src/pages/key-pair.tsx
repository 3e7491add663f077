import { useState } from "preact/hooks";
import { call, get, session } from "../api.js";
import { shortHex } from "../format.js";
import { href } from "../router.js";
import { ErrorBox, useLoad } from "../ui.js";

interface KeyPairVersion {
  version: number;
  state: string;
  spkiSha256?: string;
  certificateSerial?: string | null;
}

/**
 * What a KMS key pair adds to its card on the keys page: the primary version's public key (PEM),
 * each version's certificate, and a test signature made in the token and checked by /verify.
 */
export function KeyPairPanel(props: { id: string; purpose: string; versions: KeyPairVersion[] }) {
  const path = `/keys/${encodeURIComponent(props.id)}`;
  const pem = useLoad(() => get<{ version: number; publicKey: string }>(`${path}/public-key?format=pem`), [props.id]);
  const [test, setTest] = useState<string | undefined>();
  const [error, setError] = useState<unknown>();
  const certified = props.versions.filter((v) => v.certificateSerial);

  async function signTest() {
    setError(undefined);
    setTest(undefined);
    try {
      const message = btoa(`Keyward console test message ${new Date().toISOString()}`);
      const signed = (
        await call<{ signature: string; version: number; algorithm: string }>(`${path}/sign`, {
          body: { message },
        })
      ).data;
      const checked = (
        await call<{ valid: boolean; version: number | null }>(`${path}/verify`, {
          body: { message, signature: signed.signature },
        })
      ).data;
      setTest(
        `Version ${signed.version} signed with ${signed.algorithm} in the token; ${
          checked.valid ? `verified with version ${checked.version}` : "it did NOT verify"
        }.`,
      );
    } catch (e) {
      setError(e);
    }
  }

  return (
    <div class="key-pair">
      <ErrorBox error={pem.error ?? error} />
      {pem.data ? (
        <details>
          <summary>Public key (version {pem.data.version})</summary>
          <pre class="mono small wrap">{pem.data.publicKey}</pre>
        </details>
      ) : null}
      <p>
        {certified.length
          ? certified.map((v) => (
              <span key={v.version}>
                Version {v.version} certificate{" "}
                <a href={href("certificates", v.certificateSerial!)}>{shortHex(v.certificateSerial!)}</a>.{" "}
              </span>
            ))
          : "No version is certified."}
      </p>
      {props.purpose === "sign" && session.can("keys:use") ? (
        <div class="actions">
          <button type="button" onClick={() => void signTest()}>
            Sign test message
          </button>
        </div>
      ) : null}
      {test ? (
        <p class="alert ok" role="status">
          {test}
        </p>
      ) : null}
    </div>
  );
}
