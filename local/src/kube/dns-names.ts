// Kubernetes' name formats (apimachinery validation: IsDNS1123Label, IsDNS1123Subdomain), for the manifest checks,
// the object store and label selectors alike.

/** RFC 1123 label, pattern only (the length limit is the caller's, with its own message). */
export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** RFC 1123 subdomain, pattern only. */
export const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** RFC 1123 label of at most `maxLength` (default 63), as Kubernetes checks namespace, container and port names. */
export function isDnsLabel(s: string, maxLength = 63): boolean {
  return s.length <= maxLength && DNS1123_LABEL.test(s);
}

/** RFC 1123 subdomain of at most 253 characters, as Kubernetes checks most object names. */
export function isDnsSubdomain(s: string): boolean {
  return s.length <= 253 && DNS1123_SUBDOMAIN.test(s);
}
