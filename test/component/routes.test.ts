import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PERMISSIONS, ROLES } from "../../src/access/index.js";
import { apiRoutes } from "../../src/http/routes/api.js";
import { startKeyward, type TestKeyward, testActor } from "../helpers/keyward.js";

let kw: TestKeyward;

beforeAll(async () => {
  kw = await startKeyward();
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
        if (allowed) expect(res.status, `${role} ${route.method} ${route.path}`).not.toBe(403);
        else expect(res.status, `${role} ${route.method} ${route.path}`).toBe(403);
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
