/** The rule set the signer runs before every signature (compose.ts) and `keyward lint` prints. */
import type { LintRule } from "../index.js";
import { baselineRules } from "./baseline.js";
import { certificateRules } from "./certificate.js";
import { crlRules } from "./crl.js";
import { ocspRules } from "./ocsp.js";

export const defaultRules: readonly LintRule[] = [...certificateRules, ...baselineRules, ...crlRules, ...ocspRules];
