export { isRole, PERMISSIONS, type Permission, ROLES, type Role, roleAllows } from "./roles.js";
export { type ApiTokenRecord, type Principal, TokenService, type TokenStore } from "./tokens.js";
