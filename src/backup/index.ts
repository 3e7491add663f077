export { type Archive, type ArchiveCheck, type ArchiveHeader, readArchiveFile } from "./archive.js";
export { BackupService, type OpenedArchive, openArchive } from "./service.js";
export { type CarriedToken, copySoftHsmToken, restoreSoftHsmToken, type TokenLocation } from "./softhsm-token.js";
