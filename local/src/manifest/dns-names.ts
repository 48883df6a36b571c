const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** RFC 1123 label, as Kubernetes checks namespace, container and port names. */
export function isDnsLabel(s: string, maxLength = 63): boolean {
  return s.length <= maxLength && DNS_LABEL.test(s);
}

/** RFC 1123 subdomain, as Kubernetes checks most object names. */
export function isDnsSubdomain(s: string): boolean {
  return s.length <= 253 && DNS_SUBDOMAIN.test(s);
}
