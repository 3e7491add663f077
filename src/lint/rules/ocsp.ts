/** RFC 6960 and BR §4.9.10 rules for an OCSP ResponseData. */
import type { LintRule } from "../index.js";
import { ocspRule, structureRule } from "./define.js";

const DAY = 86_400_000;

export const ocspRules: LintRule[] = [
  structureRule("ocsp", "rfc6960_4_2_1_response_data_structure", "RFC 6960 §4.2.1: ResponseData must be readable DER"),
  ocspRule({
    name: "rfc6960_4_2_1_responses",
    citation: "RFC 6960 §4.2.1: version v1, at least one SingleResponse with a known certStatus",
    severity: "error",
    check: (r) =>
      [
        r.version !== 0 && `version is v${r.version + 1}`,
        r.responses.length === 0 && "no SingleResponse",
        ...r.responses
          .filter((s) => s.status === "invalid")
          .map(() => "a SingleResponse with an unknown certStatus tag"),
      ].filter((p): p is string => typeof p === "string"),
  }),
  ocspRule({
    name: "rfc6960_4_2_2_1_time_order",
    citation: "RFC 6960 §4.2.2.1: thisUpdate not after producedAt, nextUpdate after both",
    severity: "error",
    check: (r) =>
      r.responses.flatMap((s) =>
        [
          s.thisUpdate > r.producedAt &&
            `thisUpdate ${s.thisUpdate.toISOString()} is after producedAt ${r.producedAt.toISOString()}`,
          s.nextUpdate &&
            s.nextUpdate <= s.thisUpdate &&
            `nextUpdate ${s.nextUpdate.toISOString()} is not after thisUpdate`,
          s.nextUpdate &&
            s.nextUpdate <= r.producedAt &&
            `nextUpdate ${s.nextUpdate.toISOString()} is not after producedAt`,
        ].filter((p): p is string => typeof p === "string"),
      ),
  }),
  ocspRule({
    name: "br_4_9_10_ocsp_validity_interval",
    citation: "BR §4.9.10: nextUpdate present; validity interval at least 8 hours and at most 10 days",
    severity: "warning",
    check: (r) =>
      r.responses.flatMap((s) => {
        if (!s.nextUpdate) return ["no nextUpdate"];
        const interval = s.nextUpdate.getTime() - s.thisUpdate.getTime();
        return interval > 10 * DAY || interval < DAY / 3
          ? [`validity interval of ${(interval / 3_600_000).toFixed(1)} hours (8 hours to 10 days)`]
          : [];
      }),
  }),
];
