/** The URLs of ACME resources (RFC 8555 §7.1), all under `<baseUrl>/acme/`. */
export class AcmeUrls {
  constructor(private readonly baseUrl: string) {}

  url(path: string): string {
    return `${this.baseUrl}/acme/${path}`;
  }

  account(id: string): string {
    return this.url(`acct/${id}`);
  }

  order(id: string): string {
    return this.url(`order/${id}`);
  }

  authorization(id: string): string {
    return this.url(`authz/${id}`);
  }
}
