/** Keyward's version, as `keyward --version` and GET /health report it (package.json's "version"). */
export const VERSION = "0.1.0";
