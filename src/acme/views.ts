import type { AcmeAccount, AcmeAuthorization, AcmeChallenge, AcmeOrder } from "./ports.js";
import type { AcmeUrls } from "./urls.js";

/** ACME objects as clients see them (RFC 8555 §7.1.2-7.1.5): JSON with URLs, not database ids. */
export class AcmeViews {
  constructor(private readonly urls: AcmeUrls) {}

  account(account: AcmeAccount) {
    return { status: account.status, contact: account.contact, orders: `${this.urls.account(account.id)}/orders` };
  }

  order(order: AcmeOrder) {
    return {
      status: order.status,
      expires: order.expiresAt.toISOString(),
      identifiers: order.identifiers,
      authorizations: order.authorizationIds.map((id) => this.urls.authorization(id)),
      finalize: this.urls.url(`order/${order.id}/finalize`),
      profile: order.profile,
      ...(order.replaces ? { replaces: order.replaces } : {}),
      ...(order.certificateSerial ? { certificate: this.urls.url(`cert/${order.id}`) } : {}),
      ...(order.error ? { error: order.error } : {}),
    };
  }

  authorization(authz: AcmeAuthorization) {
    return {
      status: authz.status,
      expires: authz.expiresAt.toISOString(),
      identifier: authz.identifier,
      challenges: authz.challenges.map((c) => this.challenge(c)),
      ...(authz.wildcard ? { wildcard: true } : {}),
    };
  }

  challenge(c: AcmeChallenge) {
    return {
      type: c.type,
      url: this.urls.url(`chall/${c.id}`),
      status: c.status,
      token: c.token,
      ...(c.validatedAt ? { validated: c.validatedAt.toISOString() } : {}),
      ...(c.error ? { error: c.error } : {}),
    };
  }
}
