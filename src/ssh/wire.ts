/**
 * The SSH wire encoding (RFC 4251 §5): what OpenSSH keys, certificates (PROTOCOL.certkeys) and
 * KRLs (PROTOCOL.krl) are made of. Strings are length-prefixed byte strings; mpints are
 * two's-complement big-endian with the fewest octets.
 */
export class SshWriter {
  private readonly parts: Buffer[] = [];

  byte(value: number): this {
    this.parts.push(Buffer.from([value]));
    return this;
  }

  bool(value: boolean): this {
    return this.byte(value ? 1 : 0);
  }

  uint32(value: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(value);
    this.parts.push(b);
    return this;
  }

  uint64(value: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(value);
    this.parts.push(b);
    return this;
  }

  string(value: Uint8Array | string): this {
    const data = typeof value === "string" ? Buffer.from(value, "utf8") : Buffer.from(value);
    this.uint32(data.length);
    this.parts.push(data);
    return this;
  }

  /** A positive integer given as unsigned big-endian octets. */
  mpint(unsigned: Uint8Array): this {
    let start = 0;
    while (start < unsigned.length && unsigned[start] === 0) start++;
    const magnitude = Buffer.from(unsigned.subarray(start));
    return this.string(
      magnitude.length && magnitude[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), magnitude]) : magnitude,
    );
  }

  raw(data: Uint8Array): this {
    this.parts.push(Buffer.from(data));
    return this;
  }

  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Reads SSH wire data; every read past the end throws, so truncated input is never half-read. */
export class SshReader {
  private offset = 0;

  constructor(private readonly data: Buffer) {}

  get position(): number {
    return this.offset;
  }

  get remaining(): number {
    return this.data.length - this.offset;
  }

  private take(n: number, what: string): Buffer {
    if (n > this.remaining) throw new SshFormatError(`truncated ${what}`);
    const out = this.data.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  byte(): number {
    return this.take(1, "byte")[0]!;
  }

  bool(): boolean {
    const b = this.byte();
    if (b > 1) throw new SshFormatError(`boolean is ${b}`);
    return b === 1;
  }

  uint32(): number {
    return this.take(4, "uint32").readUInt32BE();
  }

  uint64(): bigint {
    return this.take(8, "uint64").readBigUInt64BE();
  }

  string(what = "string"): Buffer {
    return this.take(this.uint32(), what);
  }

  text(what = "string"): string {
    const bytes = this.string(what);
    const text = bytes.toString("utf8");
    if (!Buffer.from(text, "utf8").equals(bytes)) throw new SshFormatError(`${what} is not UTF-8`);
    return text;
  }

  /** A non-negative mpint as unsigned big-endian octets (no leading zero). */
  mpint(what = "mpint"): Buffer {
    const bytes = this.string(what);
    if (bytes.length && bytes[0]! & 0x80) throw new SshFormatError(`${what} is negative`);
    if (bytes.length > 1 && bytes[0] === 0 && !(bytes[1]! & 0x80))
      throw new SshFormatError(`${what} has a superfluous leading zero`);
    return bytes[0] === 0 ? bytes.subarray(1) : bytes;
  }

  end(what: string): void {
    if (this.remaining !== 0) throw new SshFormatError(`${this.remaining} trailing bytes after ${what}`);
  }
}

export class SshFormatError extends Error {}
