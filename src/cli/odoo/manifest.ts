// The Odoo modules a release changes, from the `__manifest__.py` of every addon in two trees
// (the revision in production and the one being released). A manifest is a Python dict literal;
// its 'version' is read by a small scanner (strings, comments, nesting) without running Python,
// so a comment or a nested dict that mentions 'version' is not mistaken for it.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const MANIFESTS = ['__manifest__.py', '__openerp__.py'];
const SKIP_DIRS = new Set(['.git', 'node_modules', '__pycache__', '.venv', 'venv', 'static', 'tests']);
/** Addons sit at most this deep below a tree's root (repo/addons/<module>, repo/<group>/<module>). */
const MAX_DEPTH = 3;

type Token = { kind: 'string'; value: string } | { kind: 'punct'; value: string } | { kind: 'other' };

/** Python tokens enough for a dict literal: strings (any quotes, prefixes), punctuation, the rest. */
function tokens(source: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (c === '#') {
      while (i < source.length && source[i] !== '\n') i++;
      continue;
    }
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const prefix = /^[rRuUbBfF]{0,2}(?='|")/.exec(source.slice(i, i + 3));
    if (prefix) {
      const raw = /r/i.test(prefix[0]);
      i += prefix[0].length;
      const q = source[i]!;
      const triple = source.startsWith(q.repeat(3), i);
      const end = triple ? q.repeat(3) : q;
      i += end.length;
      let value = '';
      while (i < source.length && !source.startsWith(end, i)) {
        if (source[i] === '\\' && !raw && i + 1 < source.length) {
          const next = source[i + 1]!;
          value += { n: '\n', t: '\t', '\\': '\\', "'": "'", '"': '"' }[next] ?? `\\${next}`;
          i += 2;
          continue;
        }
        if (!triple && source[i] === '\n') break;
        value += source[i];
        i++;
      }
      i += end.length;
      out.push({ kind: 'string', value });
      continue;
    }
    if ('{}[]():,'.includes(c)) {
      out.push({ kind: 'punct', value: c });
      i++;
      continue;
    }
    // A name, number or operator: one token up to the next delimiter.
    while (i < source.length && !/[\s#'"{}[\]():,]/.test(source[i]!)) i++;
    out.push({ kind: 'other' });
  }
  return out;
}

const isPunct = (t: Token | undefined, value: string) => t?.kind === 'punct' && t.value === value;

/** The top-level 'version' of a manifest, or undefined when it has none. */
export function manifestVersion(source: string): string | undefined {
  const t = tokens(source);
  let depth = 0;
  for (let k = 0; k < t.length; k++) {
    const tok = t[k]!;
    if (tok.kind === 'punct' && '{[('.includes(tok.value)) depth++;
    else if (tok.kind === 'punct' && '}])'.includes(tok.value)) depth--;
    else if (depth === 1 && tok.kind === 'string' && tok.value === 'version' && isPunct(t[k + 1], ':')) {
      // Adjacent literals concatenate, as in Python.
      let value = '';
      let j = k + 2;
      while (t[j]?.kind === 'string') value += (t[j++] as { value: string }).value;
      return j > k + 2 ? value : undefined;
    }
  }
  return undefined;
}

export interface ModuleManifest {
  module: string;
  version?: string;
  /** Path of the manifest, relative to the tree's root. */
  manifest: string;
}

/** Every addon below `root` (a directory holding a __manifest__.py), by module name. */
export function scanAddons(root: string): Map<string, ModuleManifest> {
  const found = new Map<string, ModuleManifest>();
  const walk = (dir: string, depth: number) => {
    let entries: string[];
    try {
      entries = readdirSync(dir).sort();
    } catch {
      return;
    }
    const manifest = MANIFESTS.find((m) => entries.includes(m));
    if (manifest && depth > 0) {
      const file = path.join(dir, manifest);
      const module = path.basename(dir);
      if (!found.has(module)) {
        found.set(module, {
          module,
          version: manifestVersion(readFileSync(file, 'utf8')),
          manifest: path.relative(root, file),
        });
      }
      return;
    }
    if (depth >= MAX_DEPTH) return;
    for (const name of entries) {
      if (SKIP_DIRS.has(name) || name.startsWith('.')) continue;
      const sub = path.join(dir, name);
      try {
        if (statSync(sub).isDirectory()) walk(sub, depth + 1);
      } catch {
        // unreadable: not an addon
      }
    }
  };
  walk(root, 0);
  return found;
}

export interface ModuleChange {
  module: string;
  change: 'added' | 'removed' | 'upgraded' | 'downgraded' | 'version_changed';
  from_version: string | null;
  to_version: string | null;
}

/** Compares dotted versions numerically where both parts are numbers (17.0.1.10 > 17.0.1.9). */
function compareVersions(a: string, b: string): number {
  const pa = a.split('.');
  const pb = b.split('.');
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '0';
    const y = pb[i] ?? '0';
    if (/^\d+$/.test(x) && /^\d+$/.test(y)) {
      if (Number(x) !== Number(y)) return Number(x) - Number(y);
    } else if (x !== y) {
      return x < y ? -1 : 1;
    }
  }
  return 0;
}

/** The modules whose manifest version differs between the two trees, added or removed ones too. */
export function changedModules(
  from: Map<string, ModuleManifest>,
  to: Map<string, ModuleManifest>,
): ModuleChange[] {
  const names = [...new Set([...from.keys(), ...to.keys()])].sort();
  const out: ModuleChange[] = [];
  for (const module of names) {
    const a = from.get(module);
    const b = to.get(module);
    const fromVersion = a?.version ?? null;
    const toVersion = b?.version ?? null;
    if (!a) out.push({ module, change: 'added', from_version: null, to_version: toVersion });
    else if (!b) out.push({ module, change: 'removed', from_version: fromVersion, to_version: null });
    else if (fromVersion !== toVersion) {
      const cmp = fromVersion && toVersion ? compareVersions(toVersion, fromVersion) : 0;
      out.push({
        module,
        change: cmp > 0 ? 'upgraded' : cmp < 0 ? 'downgraded' : 'version_changed',
        from_version: fromVersion,
        to_version: toVersion,
      });
    }
  }
  return out;
}

/** An Odoo module's technical name. */
export const MODULE_NAME = /^[a-z0-9_]+$/;
