import { useEffect, useState } from "preact/hooks";

/** Hash routes (#/certificates/ab12): the server needs only to serve index.html. */
export function useRoute(): string[] {
  const parse = () =>
    (location.hash.replace(/^#\/?/, "") || "overview")
      .split("?")[0]!
      .split("/")
      .map((p) => decodeURIComponent(p));
  const [route, setRoute] = useState(parse);
  useEffect(() => {
    const onChange = () => setRoute(parse());
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return route;
}

export const href = (...parts: string[]): string => `#/${parts.map(encodeURIComponent).join("/")}`;
