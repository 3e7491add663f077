export { isRole, PERMISSIONS, type Permission, ROLES, type Role, roleAllows } from "./roles.js";
export type { Principal, UserScopes } from "./principal.js";
export { type ApiTokenRecord, TokenService, type TokenStore } from "./tokens.js";
export {
  type LoginContext,
  type SessionRecord,
  type TotpSeeds,
  type UserRecord,
  UserService,
  type UserStore,
} from "./users.js";
export { otpauthUri, totpQrDataUrl, totpQrForTerminal } from "./totp.js";
export { type EnrolmentSeeds, TotpEnrolment } from "./totp-enrolment.js";
export {
  type Approval,
  ApprovalService,
  type ApprovalStatus,
  type ApprovalStore,
  type Executor,
  type QuorumPolicy,
} from "./quorum.js";
export { approvalView, userView } from "./views.js";
