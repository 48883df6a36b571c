const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * The certificates of a PEM bundle in order, each normalised to end with one newline. Text between blocks (OpenSSL's
 * "subject=" lines in hand-made bundles) is ignored, as Go's pem.Decode does.
 */
export function splitPemCertificates(pem: string): string[] {
  return (pem.match(CERT_BLOCK) ?? []).map((block) => `${block.replace(/\r\n/g, '\n')}\n`);
}

/** Joins certificates into one bundle, one newline between blocks. */
export function joinPem(pems: readonly string[]): string {
  return pems.map((p) => (p.endsWith('\n') ? p : `${p}\n`)).join('');
}
