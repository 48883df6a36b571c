/** Objects by namespace and name, so a namespace's pods/services/policies are found without a full scan. */
export class NamespacedStore<V> {
  private readonly byNamespace = new Map<string, Map<string, V>>();

  get(namespace: string, name: string): V | undefined {
    return this.byNamespace.get(namespace)?.get(name);
  }

  set(namespace: string, name: string, value: V): void {
    let names = this.byNamespace.get(namespace);
    if (names === undefined) {
      names = new Map();
      this.byNamespace.set(namespace, names);
    }
    names.set(name, value);
  }

  delete(namespace: string, name: string): void {
    const names = this.byNamespace.get(namespace);
    if (names === undefined) return;
    names.delete(name);
    if (names.size === 0) this.byNamespace.delete(namespace);
  }

  inNamespace(namespace: string): Iterable<V> {
    return this.byNamespace.get(namespace)?.values() ?? [];
  }

  /** Both namespaces' objects; `b` is skipped when it equals `a`. */
  *inNamespaces(a: string, b: string): Iterable<V> {
    yield* this.inNamespace(a);
    if (b !== a) yield* this.inNamespace(b);
  }

  *all(): Iterable<V> {
    for (const names of this.byNamespace.values()) yield* names.values();
  }
}
