export const day = (iso: string | null | undefined): string => (iso ? iso.slice(0, 10) : "—");
export const dateTime = (iso: string | null | undefined): string =>
  iso ? `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC` : "—";
export const daysLeft = (iso: string): number => Math.floor((new Date(iso).getTime() - Date.now()) / 86_400_000);
export const shortHex = (hex: string, n = 16): string => (hex.length > n ? `${hex.slice(0, n)}…` : hex);
