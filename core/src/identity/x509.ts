// @peculiar/x509's ASN.1 schemas are declared with decorators that read `Reflect.getMetadata` while the module
// evaluates, so the polyfill must load first. ESM evaluates imports in source order, and every Ambit module takes
// x509 from this file, so this ordering holds wherever the library is used.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// Node's WebCrypto is the one provider: without it the library looks for a browser `crypto` global.
x509.cryptoProvider.set(webcrypto);

export { x509 };

// The tsconfig has no DOM lib, so WebCrypto types come from Node's `webcrypto` namespace under their usual names.
export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
export type SignatureAlgorithm = webcrypto.EcdsaParams | webcrypto.RsaHashedImportParams;
export const subtle: webcrypto.SubtleCrypto = webcrypto.subtle;
