import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve as resolvePath } from 'node:path';
import type * as TS from 'typescript';

/**
 * OpenAPI v3 schemas of built-in kinds, read from the type declarations of the maintained `kubernetes-models`
 * packages (`kubernetes-models` for Kubernetes' own groups, `@kubernetes-models/istio`, `@kubernetes-models/gateway-api`).
 * Those packages are generated from the upstream OpenAPI specs and CRDs; what they ship is TypeScript declarations
 * (properties, optionality, string-literal enums, the upstream descriptions as doc comments) and compiled
 * validators, not the JSON schemas themselves. So the schema is recovered from the declarations with TypeScript's
 * parser (syntax only, no type checker): an interface becomes a `components.schemas` entry, everything else is
 * inlined. Declarations do not tell integers from numbers: every number is `type: number`.
 *
 * Parsing happens on the first request for a group/version and is cached per process; nothing is read (and
 * TypeScript is not even loaded) at start-up: the local API starts in every test cluster.
 */

export type Schema = Record<string, unknown>;

const require = createRequire(import.meta.url);

let typescript: typeof TS | undefined;
function loadTypescript(): typeof TS {
  typescript ??= require('typescript') as typeof TS;
  return typescript;
}

/** Package roots: `require.resolve` keeps them declared in local/package.json (test/repo/dependencies.test.ts). */
const PACKAGE_DIRS = {
  k8s: () => dirname(require.resolve('kubernetes-models/package.json')),
  istio: () => dirname(require.resolve('@kubernetes-models/istio/package.json')),
  gateway: () => dirname(require.resolve('@kubernetes-models/gateway-api/package.json')),
} as const;

/** Where the declaration of a served group/version's kinds lives: package and folder inside it. */
const GROUP_DIRS: Readonly<Record<string, { pkg: keyof typeof PACKAGE_DIRS; dir: string }>> = {
  v1: { pkg: 'k8s', dir: 'v1' },
  'apps/v1': { pkg: 'k8s', dir: 'apps/v1' },
  'discovery.k8s.io/v1': { pkg: 'k8s', dir: 'discovery.k8s.io/v1' },
  'coordination.k8s.io/v1': { pkg: 'k8s', dir: 'coordination.k8s.io/v1' },
  'apiextensions.k8s.io/v1': { pkg: 'k8s', dir: 'apiextensions.k8s.io/v1' },
  'autoscaling/v1': { pkg: 'k8s', dir: 'autoscaling/v1' },
  'rbac.authorization.k8s.io/v1': { pkg: 'k8s', dir: 'rbac.authorization.k8s.io/v1' },
  'events.k8s.io/v1': { pkg: 'k8s', dir: 'events.k8s.io/v1' },
  'security.istio.io/v1': { pkg: 'istio', dir: 'security.istio.io/v1' },
  'networking.istio.io/v1': { pkg: 'istio', dir: 'networking.istio.io/v1' },
  'gateway.networking.k8s.io/v1': { pkg: 'gateway', dir: 'gateway.networking.k8s.io/v1' },
  'gateway.networking.k8s.io/v1beta1': { pkg: 'gateway', dir: 'gateway.networking.k8s.io/v1beta1' },
};

/** The declaration file of a kind, or undefined when no schema package covers its group/version. */
export function modelFile(apiVersion: string, kind: string): string | undefined {
  const where = GROUP_DIRS[apiVersion];
  if (where === undefined) return undefined;
  const file = join(PACKAGE_DIRS[where.pkg](), where.dir, `${kind}.d.ts`);
  return existsSync(file) ? file : undefined;
}

interface ParsedFile {
  readonly source: TS.SourceFile;
  /** Imported name → file it comes from (resolved .d.ts) and the name exported there. */
  readonly imports: ReadonlyMap<string, { file: string; name: string }>;
  /** Exported alias → declared name (`export type { IPod as IIoK8sApiCoreV1Pod }`). */
  readonly aliases: ReadonlyMap<string, string>;
  readonly declarations: ReadonlyMap<string, TS.InterfaceDeclaration | TS.TypeAliasDeclaration>;
}

/** Node's package lookup: the nearest node_modules/<name> above `fromDir`. */
function packageDir(fromDir: string, name: string): string | undefined {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

function resolveImport(fromFile: string, specifier: string): string | undefined {
  if (specifier.startsWith('.')) return resolvePath(dirname(fromFile), specifier.replace(/\.js$/, '.d.ts'));
  const parts = specifier.split('/');
  const pkgName = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? '');
  const rest = parts.slice(specifier.startsWith('@') ? 2 : 1).join('/');
  const dir = packageDir(dirname(fromFile), pkgName);
  if (dir === undefined) return undefined;
  const file = join(dir, rest === '' ? 'index.d.ts' : `${rest.replace(/\.js$/, '')}.d.ts`);
  return existsSync(file) ? file : undefined;
}

function docOf(ts: typeof TS, node: TS.Node): string | undefined {
  const docs = ts.getJSDocCommentsAndTags(node).filter(ts.isJSDoc);
  const text = docs
    .map((d) => ts.getTextOfJSDocComment(d.comment) ?? '')
    .join('\n')
    .trim();
  // The generator escapes markdown (`\*`); kube-apiserver's descriptions do not.
  return text === '' ? undefined : text.replace(/\\([*_`[\]])/g, '$1');
}

function propertyName(ts: typeof TS, name: TS.PropertyName): string | undefined {
  if (ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isNumericLiteral(name)) return name.text;
  return undefined;
}

/** Converts the declarations reachable from kind files into OpenAPI schemas; one instance caches every file it read. */
export class ModelSchemas {
  private readonly files = new Map<string, ParsedFile>();
  /** Component name → schema; a name is reserved (set) before its schema is built, so recursive types terminate. */
  readonly components = new Map<string, Schema>();
  private readonly ts = loadTypescript();

  /** The schema packages' versions: what the schemas depend on besides the kinds asked for (for cache hashes). */
  static versions(): string[] {
    return Object.values(PACKAGE_DIRS).map((dir) => {
      const pkg: unknown = JSON.parse(readFileSync(join(dir(), 'package.json'), 'utf8'));
      return typeof pkg === 'object' && pkg !== null && 'version' in pkg ? String(pkg.version) : '';
    });
  }

  private parse(file: string): ParsedFile {
    const { ts } = this;
    const known = this.files.get(file);
    if (known !== undefined) return known;
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const imports = new Map<string, { file: string; name: string }>();
    const aliases = new Map<string, string>();
    const declarations = new Map<string, TS.InterfaceDeclaration | TS.TypeAliasDeclaration>();
    for (const st of source.statements) {
      if (ts.isImportDeclaration(st) && ts.isStringLiteral(st.moduleSpecifier) && st.importClause?.namedBindings !== undefined) {
        const target = resolveImport(file, st.moduleSpecifier.text);
        const bindings = st.importClause.namedBindings;
        if (target !== undefined && ts.isNamedImports(bindings)) {
          for (const el of bindings.elements) imports.set(el.name.text, { file: target, name: (el.propertyName ?? el.name).text });
        }
      } else if (ts.isExportDeclaration(st) && st.exportClause !== undefined && ts.isNamedExports(st.exportClause)) {
        for (const el of st.exportClause.elements) aliases.set(el.name.text, (el.propertyName ?? el.name).text);
      } else if (ts.isInterfaceDeclaration(st) || ts.isTypeAliasDeclaration(st)) {
        declarations.set(st.name.text, st);
      }
    }
    const parsed = { source, imports, aliases, declarations };
    this.files.set(file, parsed);
    return parsed;
  }

  /** A kind's main interface (`I<Kind>` in its file) as a component tagged with its GVK; returns the component name. */
  kind(file: string, kind: string, gvk: Schema): string | undefined {
    const decl = this.parse(file).declarations.get(`I${kind}`);
    if (decl === undefined) return undefined;
    const component = componentOf(file);
    this.components.set(component, {});
    this.components.set(component, { ...this.declaration(file, decl), 'x-kubernetes-group-version-kind': [gvk] });
    return component;
  }

  /** Resolves a name used in `file` to its declaration (imported, aliased or local). */
  private lookup(file: string, name: string): { file: string; decl: TS.InterfaceDeclaration | TS.TypeAliasDeclaration } | undefined {
    const parsed = this.parse(file);
    const imported = parsed.imports.get(name);
    if (imported !== undefined) return this.lookup(imported.file, imported.name);
    const declared = parsed.declarations.get(parsed.aliases.get(name) ?? name);
    return declared === undefined ? undefined : { file, decl: declared };
  }

  private reference(file: string, name: string): Schema {
    const { ts } = this;
    const found = this.lookup(file, name);
    if (found === undefined) return {};
    if (ts.isTypeAliasDeclaration(found.decl)) {
      const description = docOf(ts, found.decl);
      return { ...this.type(found.file, found.decl.type), ...(description === undefined ? {} : { description }) };
    }
    // Interfaces are components named after their file (`.../v1/PodSpec.d.ts` → `…v1.PodSpec`), as kube names them
    // `io.k8s.api.core.v1.PodSpec`: stable and unique per package folder.
    const component = componentOf(found.file);
    if (!this.components.has(component)) {
      this.components.set(component, {});
      this.components.set(component, this.declaration(found.file, found.decl));
    }
    return { $ref: `#/components/schemas/${component}` };
  }

  private declaration(file: string, decl: TS.InterfaceDeclaration | TS.TypeAliasDeclaration): Schema {
    const { ts } = this;
    const description = docOf(ts, decl);
    let schema: Schema;
    if (ts.isTypeAliasDeclaration(decl)) {
      schema = this.type(file, decl.type);
    } else {
      // `extends` (TypeMeta, CommonRouteSpec, …): the bases' properties first, as the generated classes list them.
      const bases = (decl.heritageClauses ?? []).flatMap((h) => h.types).map((t) => this.inline(this.type(file, t)));
      schema = mergeObjects([...bases, this.members(file, decl.members)]);
    }
    return description === undefined ? schema : { description, ...schema };
  }

  /** A referenced interface's own schema (for merging `extends`), not its $ref. */
  private inline(schema: Schema): Schema {
    const ref = schema['$ref'];
    return typeof ref === 'string' ? (this.components.get(ref.replace('#/components/schemas/', '')) ?? {}) : schema;
  }

  private members(file: string, members: TS.NodeArray<TS.TypeElement>): Schema {
    const { ts } = this;
    const properties: Record<string, Schema> = {};
    const required: string[] = [];
    let additional: Schema | undefined;
    for (const m of members) {
      if (ts.isPropertySignature(m) && m.type !== undefined) {
        const name = propertyName(ts, m.name);
        if (name === undefined) continue;
        const description = docOf(ts, m);
        const type = this.type(file, m.type);
        // A $ref cannot carry siblings in OpenAPI 3.0; kube-apiserver wraps it in allOf to add the description.
        properties[name] = description === undefined ? type : '$ref' in type ? { description, allOf: [type] } : { ...type, description };
        if (m.questionToken === undefined) required.push(name);
      } else if (ts.isIndexSignatureDeclaration(m)) {
        additional = this.type(file, m.type);
      }
    }
    return {
      type: 'object',
      ...(Object.keys(properties).length === 0 ? {} : { properties }),
      ...(required.length === 0 ? {} : { required }),
      ...(additional === undefined ? {} : { additionalProperties: additional }),
    };
  }

  private type(file: string, node: TS.TypeNode): Schema {
    const { ts } = this;
    switch (node.kind) {
      case ts.SyntaxKind.StringKeyword:
        return { type: 'string' };
      case ts.SyntaxKind.NumberKeyword:
        return { type: 'number' };
      case ts.SyntaxKind.BooleanKeyword:
        return { type: 'boolean' };
      case ts.SyntaxKind.ObjectKeyword:
        return { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
      default:
        break;
    }
    if (ts.isParenthesizedTypeNode(node)) return this.type(file, node.type);
    if (ts.isArrayTypeNode(node)) return { type: 'array', items: this.type(file, node.elementType) };
    if (ts.isTypeLiteralNode(node)) return this.members(file, node.members);
    if (ts.isLiteralTypeNode(node)) {
      const lit = node.literal;
      if (ts.isStringLiteral(lit)) return { type: 'string', enum: [lit.text] };
      if (ts.isNumericLiteral(lit)) return { type: 'number', enum: [Number(lit.text)] };
      if (lit.kind === ts.SyntaxKind.TrueKeyword || lit.kind === ts.SyntaxKind.FalseKeyword) return { type: 'boolean' };
      return {};
    }
    if (ts.isUnionTypeNode(node)) return this.union(file, node);
    if (ts.isIntersectionTypeNode(node)) return mergeObjects(node.types.map((t) => this.inline(this.type(file, t))));
    if (ts.isExpressionWithTypeArguments(node) && ts.isIdentifier(node.expression)) return this.reference(file, node.expression.text);
    if (ts.isTypeReferenceNode(node) && ts.isIdentifier(node.typeName)) {
      const name = node.typeName.text;
      const arg = node.typeArguments?.[0];
      if (name === 'Array' && arg !== undefined) return { type: 'array', items: this.type(file, arg) };
      if (name === 'Record' && node.typeArguments?.[1] !== undefined) {
        return { type: 'object', additionalProperties: this.type(file, node.typeArguments[1]) };
      }
      return this.reference(file, name);
    }
    return {};
  }

  private union(file: string, node: TS.UnionTypeNode): Schema {
    const { ts } = this;
    const parts = node.types.filter((t) => !(ts.isLiteralTypeNode(t) && t.literal.kind === ts.SyntaxKind.NullKeyword));
    const nullable = parts.length !== node.types.length;
    const schemas = parts.map((t) => this.type(file, t));
    const types = new Set(schemas.map((s) => s['type']));
    let schema: Schema;
    if (schemas.length === 1) schema = schemas[0] ?? {};
    else if (types.size === 2 && types.has('string') && types.has('number') && schemas.every((s) => s['enum'] === undefined)) {
      schema = { 'x-kubernetes-int-or-string': true };
    } else if (types.size === 1 && schemas.every((s) => Array.isArray(s['enum']))) {
      schema = { type: schemas[0]?.['type'], enum: schemas.flatMap((s) => s['enum'] as unknown[]) };
    } else if (schemas.every((s) => s['type'] === 'object')) {
      // Istio's oneOf groups (`{a} | {b}`): one object that may hold any of the alternatives' fields.
      schema = mergeObjects(schemas, false);
    } else {
      schema = { anyOf: schemas };
    }
    return nullable ? { ...schema, nullable: true } : schema;
  }
}

/** Merges object schemas into one (properties of later ones win); `required` only when every part requires it in a union. */
function mergeObjects(parts: readonly Schema[], keepRequired = true): Schema {
  const properties: Record<string, unknown> = {};
  const required = new Set<string>();
  let description: unknown;
  let additional: unknown;
  for (const p of parts) {
    if (p['properties'] !== undefined) Object.assign(properties, p['properties']);
    if (keepRequired && Array.isArray(p['required'])) for (const r of p['required']) required.add(String(r));
    description ??= p['description'];
    additional ??= p['additionalProperties'];
  }
  return {
    ...(description === undefined ? {} : { description }),
    type: 'object',
    ...(Object.keys(properties).length === 0 ? {} : { properties }),
    ...(required.size === 0 ? {} : { required: [...required] }),
    ...(additional === undefined ? {} : { additionalProperties: additional }),
  };
}

/** `…/node_modules/kubernetes-models/apps/v1/Deployment.d.ts` → `kubernetes-models.apps.v1.Deployment`. */
function componentOf(file: string): string {
  const at = file.lastIndexOf('node_modules/');
  const rel = (at === -1 ? file : file.slice(at + 'node_modules/'.length)).replace(/\.d\.ts$/, '');
  return rel.replace(/^@/, '').split('/').join('.');
}
