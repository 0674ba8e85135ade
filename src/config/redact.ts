import type { InterpolationSource } from './interpolate.ts';
import { isPlainObject } from './interpolate.ts';

/**
 * What `tributary config` prints: the resolved config with secrets hidden. Secrets must never be
 * printed, so three nets are cast:
 *  1. a value interpolated from an environment variable whose name looks secret (…TOKEN, …KEY,
 *     …SECRET, …PASSWORD, …PASS) becomes "<redacted:NAME>" — loadConfig records which variables
 *     fed which paths;
 *  2. a value under a key that looks secret (token, password, apiKey, authorization, …) becomes
 *     "<redacted>", whatever its origin (a TS config may read process.env itself);
 *  3. the database URL keeps everything but its password.
 */

const SECRET_VARIABLE = /TOKEN|KEY|SECRET|PASS|PWD|CREDENTIAL|(?:^|_)PAT(?:_|$)/i;
const SECRET_KEY =
  /token|secret|passw|pwd|api_?key|access_?key|private_?key|credential|authorization|cookie/i;

/** Which variables fed which paths, per loaded config object (weak: configs come and go in a service). */
const origins = new WeakMap<object, Map<string, string[]>>();

export const isSecretVariable = (name: string): boolean => SECRET_VARIABLE.test(name);

/** Called by loadConfig: remembers the variables behind each interpolated path of `config`. */
export function rememberSecrets(config: object, sources: readonly InterpolationSource[]): void {
  const byPath = new Map<string, string[]>();
  for (const s of sources) byPath.set(JSON.stringify(s.path), s.variables);
  origins.set(config, byPath);
}

/** A JSON-ready copy of `config` with secrets replaced; functions show as "<function>". */
export function redactConfig(config: unknown): unknown {
  const byPath =
    (typeof config === 'object' && config !== null ? origins.get(config) : undefined) ?? new Map();
  const walk = (v: unknown, path: (string | number)[]): unknown => {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') {
      const secretVars = (byPath.get(JSON.stringify(path)) ?? []).filter(isSecretVariable);
      if (secretVars.length > 0) return `<redacted:${secretVars.join(',')}>`;
      const key = path[path.length - 1];
      if (typeof key === 'string' && SECRET_KEY.test(key) && v !== '' && typeof v !== 'boolean')
        return '<redacted>';
      if (path.length === 1 && key === 'database' && typeof v === 'string') return redactDatabaseUrl(v);
      return v;
    }
    if (typeof v === 'function') return '<function>';
    if (Array.isArray(v)) return v.map((item, i) => walk(item, [...path, i]));
    if (isPlainObject(v)) {
      const out: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(v)) out[k] = walk(item, [...path, k]);
      return out;
    }
    if (v === undefined || v === null) return v;
    if (v instanceof Date) return v.toISOString();
    return typeof v === 'bigint' ? v.toString() : `<${typeof v}>`;
  };
  return walk(config, []);
}

/** postgres://user:pw@host/db?password=pw → postgres://user:<redacted>@host/db?password=<redacted> */
export function redactDatabaseUrl(url: string): string {
  let out = url;
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)/i.exec(url);
  if (m) {
    const authority = m[2]!;
    // The last '@' ends the user info: an unescaped '@' inside a password must not leak its tail.
    const at = authority.lastIndexOf('@');
    const colon = authority.indexOf(':');
    if (at !== -1 && colon !== -1 && colon < at) {
      out = m[1]! + authority.slice(0, colon) + ':<redacted>' + authority.slice(at) + url.slice(m[0].length);
    }
  }
  return out.replace(/([?&](?:password|sslpassword)=)[^&#]*/gi, '$1<redacted>');
}
