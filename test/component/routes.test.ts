import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PERMISSIONS, ROLES } from "../../src/access/index.js";
import { apiRoutes } from "../../src/http/routes/api.js";
import { startKeyward, type TestKeyward, testActor } from "../helpers/keyward.js";
import { createPerson, SteppingClock } from "../helpers/people.js";

let kw: TestKeyward;
const clock = new SteppingClock();

beforeAll(async () => {
  kw = await startKeyward({ clock, overrides: { access: { sessionMinutes: 1440 } } });
});

afterAll(async () => {
  await kw?.close();
});

describe("the admin route table", () => {
  it("gives every /api/v1 route a known permission, and none answers without a token", async () => {
    const routes = apiRoutes(kw.services);
    expect(routes.length).toBeGreaterThan(5);
    for (const route of routes) {
      expect(Object.keys(PERMISSIONS), `${route.method} ${route.path}`).toContain(route.permission);
      const path = route.path.replace(/:[a-z]+/gi, "00ff");
      const res = await kw.api(`/api/v1${path}`, {
        method: route.method.toUpperCase(),
        token: null,
        body: route.method === "post" ? {} : undefined,
      });
      expect(res.status, `${route.method} ${route.path} without a token`).toBe(401);
    }
  });

  it("refuses each role exactly where the permission table says", async () => {
    const routes = apiRoutes(kw.services);
    for (const role of ROLES) {
      const { token } = await kw.services.tokens.create({ role }, testActor);
      for (const route of routes) {
        const allowed = (PERMISSIONS[route.permission] as readonly string[]).includes(role);
        const path = route.path.replace(/:[a-z]+/gi, "00ff");
        // An empty body: allowed callers get past authorization and fail validation (4xx, not 403).
        const res = await kw.api(`/api/v1${path}`, {
          method: route.method.toUpperCase(),
          token,
          body: route.method === "post" ? {} : undefined,
        });
        const what = `${role} ${route.method} ${route.path}`;
        if (!allowed) {
          expect(res.status, what).toBe(403);
          expect(((await res.json()) as { detail: string }).detail, what).toContain(
            `lacks the permission "${route.permission}"`,
          );
        } else if (route.stepUp) {
          // Sensitive routes: the role may, but only a person with a fresh TOTP code, never an API token.
          expect(res.status, what).toBe(403);
          expect(((await res.json()) as { detail: string }).detail, what).toMatch(/needs a person/);
        } else {
          expect(res.status, what).not.toBe(403);
        }
      }
    }
  });

  it("lets people of each role through sensitive routes exactly where the table says, with a fresh code", async () => {
    const routes = apiRoutes(kw.services).filter((r) => r.stepUp);
    expect(routes.length).toBeGreaterThanOrEqual(4);
    for (const role of ROLES) {
      const person = await createPerson(kw, clock, `matrix-${role}`, role);
      const session = await person.login();
      for (const route of routes) {
        const allowed = (PERMISSIONS[route.permission] as readonly string[]).includes(role);
        const path = route.path.replace(/:[a-z]+/gi, "00ff");
        const res = await kw.api(`/api/v1${path}`, {
          method: "POST",
          token: session,
          body: {},
          headers: { "x-keyward-otp": person.otp() },
        });
        const what = `${role} ${route.method} ${route.path}`;
        // Allowed people get past authentication and step-up to validation or lookup (400/404).
        if (allowed) expect([400, 404], what).toContain(res.status);
        else expect(res.status, what).toBe(403);
      }
    }
  });

  it("describes the same routes in /api/v1/openapi.json", async () => {
    const doc = (await (await fetch(`${kw.url}/api/v1/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, Record<string, { "x-keyward-permission": string }>>;
    };
    expect(doc.openapi).toBe("3.1.0");
    for (const route of apiRoutes(kw.services)) {
      const path = `/api/v1${route.path.replace(/:([a-z]+)/gi, "{$1}")}`;
      expect(doc.paths[path]?.[route.method]?.["x-keyward-permission"]).toBe(route.permission);
    }
  });
});
