import type { LintContext, LintFinding, LintRule, LintTarget } from "../index.js";
import {
  parseResponseData,
  parseTbsCertificate,
  parseTbsCertList,
  type ResponseData,
  type TbsCertificate,
  type TbsCertList,
} from "../parse.js";

type Severity = LintFinding["severity"];
/** A rule's verdict: nothing, one message, or several. */
type Verdict = string | readonly string[] | undefined | null | false;

interface Definition<T> {
  name: string;
  /** What the rule checks, with the section it comes from. */
  citation: string;
  severity: Severity;
  check(parsed: T, context: LintContext): Verdict;
}

const PARSERS = { certificate: parseTbsCertificate, crl: parseTbsCertList, ocsp: parseResponseData } as const;

function define<T>(target: LintTarget, parse: (tbs: Buffer) => T, definition: Definition<T>): LintRule {
  return {
    name: definition.name,
    description: definition.citation,
    severity: definition.severity,
    targets: [target],
    check(tbs, context = {}) {
      let parsed: T;
      try {
        parsed = parse(tbs);
      } catch {
        return []; // the structure rule of this target reports what cannot be read, once
      }
      const verdict = definition.check(parsed, context);
      if (!verdict) return [];
      const messages = typeof verdict === "string" ? [verdict] : verdict;
      return messages.map((message) => ({ rule: definition.name, severity: definition.severity, message }));
    },
  };
}

export const certificateRule = (d: Definition<TbsCertificate>) => define("certificate", parseTbsCertificate, d);
export const crlRule = (d: Definition<TbsCertList>) => define("crl", parseTbsCertList, d);
export const ocspRule = (d: Definition<ResponseData>) => define("ocsp", parseResponseData, d);

/** The one rule per target that reports a structure the parser cannot read. */
export function structureRule(target: keyof typeof PARSERS, name: string, citation: string): LintRule {
  return {
    name,
    description: citation,
    severity: "error",
    targets: [target],
    check(tbs) {
      try {
        PARSERS[target](tbs);
        return [];
      } catch (error) {
        return [{ rule: name, severity: "error", message: (error as Error).message }];
      }
    },
  };
}
