// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect polyfill first.
import "reflect-metadata";
