import { base32Decode, totpCode } from "../../src/access/totp.js";
import type { Role } from "../../src/access/index.js";
import type { Clock } from "../../src/clock/index.js";
import { type TestKeyward, testActor } from "./keyward.js";

/**
 * Real time shifted by a whole TOTP step per code: every code a test asks for is a fresh one, as
 * if the person had waited 30 seconds, so replay protection never trips by accident.
 */
export class SteppingClock implements Clock {
  private offsetMs = 0;
  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
  nextStep(): void {
    this.offsetMs += 30_000;
  }
  /** Jumps ahead (e.g. past a CRL's nextUpdate); later codes stay fresh. */
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

export interface Person {
  id: string;
  name: string;
  password: string;
  secret: Buffer;
  recoveryCodes: string[];
  /** A fresh TOTP code (advances the clock one step). */
  otp(): string;
  /** Password + TOTP → session token. */
  login(): Promise<string>;
}

export async function createPerson(kw: TestKeyward, clock: SteppingClock, name: string, role: Role): Promise<Person> {
  const password = `correct horse ${name} battery`;
  const created = await kw.services.users.create({ name, role, password }, testActor);
  const secret = base32Decode(new URL(created.otpauthUri).searchParams.get("secret")!);
  const person: Person = {
    id: created.user.id,
    name,
    password,
    secret,
    recoveryCodes: created.recoveryCodes,
    otp() {
      clock.nextStep();
      return totpCode(secret, clock.now());
    },
    async login() {
      const res = await kw.api("/api/v1/auth/login", {
        token: null,
        body: { name, password, otp: person.otp() },
      });
      if (res.status !== 200) throw new Error(`login of ${name} failed: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { token: string }).token;
    },
  };
  return person;
}
