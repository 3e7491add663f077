export { type Archive, type ArchiveCheck, type ArchiveHeader, parseArchive } from "./archive.js";
export { BackupService } from "./service.js";
