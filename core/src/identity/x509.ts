// @peculiar/x509's ASN.1 schemas are declared with decorators that read `Reflect.getMetadata` while the module
// evaluates, so the polyfill must load first. ESM evaluates imports in source order, and every Ambit module takes
// x509 from this file, so this ordering holds wherever the library is used.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// Node's WebCrypto is the one provider: without it the library looks for a browser `crypto` global.
x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export { x509 };

/** WebCrypto, typed for the library's `CryptoKey`/`Algorithm` (DOM lib types) rather than Node's namespace. */
export const subtle: SubtleCrypto = webcrypto.subtle as unknown as SubtleCrypto;
