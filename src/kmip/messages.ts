import { KmipError, kmipErrorOf } from "./errors.js";
import {
  bytes,
  enumeration,
  findAll,
  int,
  optionalBytes,
  optionalEnum,
  optionalInt,
  optionalStruct,
  struct,
  text,
  dateTime,
} from "./items.js";
import { OPERATION, type OperationName, PROTOCOL_VERSIONS, RESULT_REASON, RESULT_STATUS, TAG } from "./spec.js";
import { decodeTtlv, encodeTtlv, type TtlvItem, TtlvError, type TtlvLimits } from "./ttlv.js";

export type ProtocolVersion = readonly [major: number, minor: number];

/** One batch item as a handler sees it. */
export interface BatchRequest {
  operation: OperationName;
  payload: TtlvItem | undefined;
  version: ProtocolVersion;
  /** KMIP's ID Placeholder: the unique identifier the previous item of the batch returned. */
  placeholder: string | undefined;
}

/** What a handler answers: the payload's children, and the identifier later items may use. */
export interface BatchResult {
  payload: TtlvItem[];
  uniqueIdentifier?: string;
}

export interface MessageOutcome {
  operation: OperationName | "unknown";
  uniqueIdentifier?: string;
  error?: KmipError;
  /** The unexpected failure behind a General Failure, for the log (never sent to the client). */
  cause?: unknown;
}

const OPERATION_NAMES = new Map<number, OperationName>(
  Object.entries(OPERATION).map(([name, code]) => [code, name as OperationName]),
);

/**
 * One request message in, one response message out: the header, each batch item through `handle`,
 * failures as result status and reason. Malformed input is answered with Invalid Message; the bytes
 * that come back are always a well-formed response.
 */
export async function processMessage(
  input: Buffer,
  options: {
    limits: TtlvLimits;
    now: () => Date;
    handle: (request: BatchRequest) => Promise<BatchResult>;
    /** After each batch item: audit and log it. */
    outcome?: (outcome: MessageOutcome) => Promise<void> | void;
  },
): Promise<Buffer> {
  let version: ProtocolVersion = [1, 0];
  let message: TtlvItem;
  let items: TtlvItem[];
  let maxResponse: number | undefined;
  try {
    message = decodeTtlv(input, options.limits);
    if (message.tag !== TAG.RequestMessage)
      throw new KmipError("InvalidMessage", "the message is not a Request Message");
    const header = optionalStruct(message, TAG.RequestHeader);
    if (!header) throw new KmipError("InvalidMessage", "the Request Message has no Request Header");
    const pv = optionalStruct(header, TAG.ProtocolVersion);
    const major = optionalInt(pv, TAG.ProtocolVersionMajor);
    const minor = optionalInt(pv, TAG.ProtocolVersionMinor);
    if (major === undefined || minor === undefined) {
      throw new KmipError("InvalidMessage", "the Request Header has no Protocol Version");
    }
    version = [major, minor];
    maxResponse = optionalInt(header, TAG.MaximumResponseSize);
    items = findAll(message, TAG.BatchItem);
    const count = optionalInt(header, TAG.BatchCount);
    if (count !== items.length) {
      throw new KmipError(
        "InvalidMessage",
        `Batch Count says ${count ?? "nothing"} but the message has ${items.length} batch items`,
      );
    }
    if (items.length === 0) throw new KmipError("InvalidMessage", "the message has no batch items");
  } catch (error) {
    const refusal =
      error instanceof TtlvError
        ? new KmipError("InvalidMessage", `malformed TTLV: ${error.message}`)
        : kmipErrorOf(error).error;
    await options.outcome?.({ operation: "unknown", error: refusal });
    return respond(answerVersion(version), options.now(), [failedItem(undefined, undefined, refusal)]);
  }
  const speaks = answerVersion(version);
  const supported = PROTOCOL_VERSIONS.some(([a, b]) => a === version[0] && b === version[1]);
  const answers: TtlvItem[] = [];
  let placeholder: string | undefined;
  for (const item of items) {
    const code = optionalEnum(item, TAG.Operation);
    const batchId = optionalBytes(item, TAG.UniqueBatchItemId);
    const operation = code === undefined ? undefined : OPERATION_NAMES.get(code);
    if (code === undefined) {
      const error = new KmipError("InvalidMessage", "a batch item has no Operation");
      await options.outcome?.({ operation: "unknown", error });
      answers.push(failedItem(undefined, batchId, error));
      continue;
    }
    try {
      if (!operation) throw new KmipError("OperationNotSupported", `operation ${code} is not supported by this server`);
      // Discover Versions is how a client of another version finds ours: it is answered in any version.
      if (!supported && operation !== "DiscoverVersions") {
        throw new KmipError(
          "InvalidMessage",
          `protocol version ${version.join(".")} is not supported; this server speaks KMIP 1.0 to 1.4`,
        );
      }
      const result = await options.handle({
        operation,
        payload: optionalStruct(item, TAG.RequestPayload),
        version,
        placeholder,
      });
      placeholder = result.uniqueIdentifier ?? placeholder;
      await options.outcome?.({ operation, uniqueIdentifier: result.uniqueIdentifier });
      answers.push(
        struct(TAG.BatchItem, [
          enumeration(TAG.Operation, code),
          batchId ? bytes(TAG.UniqueBatchItemId, batchId) : undefined,
          enumeration(TAG.ResultStatus, RESULT_STATUS.Success),
          struct(TAG.ResponsePayload, result.payload),
        ]),
      );
    } catch (error) {
      const { error: refusal, expected } = kmipErrorOf(error);
      await options.outcome?.({
        operation: operation ?? "unknown",
        error: refusal,
        cause: expected ? undefined : error,
      });
      answers.push(failedItem(code, batchId, refusal));
    }
  }
  const response = respond(speaks, options.now(), answers);
  if (maxResponse !== undefined && response.length > maxResponse) {
    const tooLarge = new KmipError(
      "ResponseTooLarge",
      `the response is ${response.length} bytes; the request allows ${maxResponse}`,
    );
    return respond(speaks, options.now(), [failedItem(undefined, undefined, tooLarge)]);
  }
  return response;
}

/** The answer to a message that cannot be read at all (e.g. too large to frame). */
export function refuseMessage(error: KmipError, now: Date): Buffer {
  return respond([1, 0], now, [failedItem(undefined, undefined, error)]);
}

/** Answers in the client's version when we speak it, else in the nearest one we do. */
function answerVersion(version: ProtocolVersion): ProtocolVersion {
  if (PROTOCOL_VERSIONS.some(([a, b]) => a === version[0] && b === version[1])) return version;
  return version[0] > 1 ? PROTOCOL_VERSIONS[0]! : [1, 0];
}

export function protocolVersionItem([major, minor]: ProtocolVersion): TtlvItem {
  return struct(TAG.ProtocolVersion, [int(TAG.ProtocolVersionMajor, major), int(TAG.ProtocolVersionMinor, minor)]);
}

function respond(version: ProtocolVersion, now: Date, items: TtlvItem[]): Buffer {
  return encodeTtlv(
    struct(TAG.ResponseMessage, [
      struct(TAG.ResponseHeader, [
        protocolVersionItem(version),
        dateTime(TAG.TimeStamp, now),
        int(TAG.BatchCount, items.length),
      ]),
      ...items,
    ]),
  );
}

function failedItem(operation: number | undefined, batchId: Buffer | undefined, error: KmipError): TtlvItem {
  return struct(TAG.BatchItem, [
    operation === undefined ? undefined : enumeration(TAG.Operation, operation),
    batchId ? bytes(TAG.UniqueBatchItemId, batchId) : undefined,
    enumeration(TAG.ResultStatus, RESULT_STATUS.OperationFailed),
    enumeration(TAG.ResultReason, RESULT_REASON[error.reason]),
    text(TAG.ResultMessage, error.message),
  ]);
}

/** The request's Protocol Version structures (Discover Versions). */
export function requestedVersions(payload: TtlvItem | undefined): ProtocolVersion[] {
  return findAll(payload, TAG.ProtocolVersion).map((pv) => [
    optionalInt(pv, TAG.ProtocolVersionMajor) ?? 0,
    optionalInt(pv, TAG.ProtocolVersionMinor) ?? 0,
  ]);
}
