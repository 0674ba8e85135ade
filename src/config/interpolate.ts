/**
 * `${VAR}` interpolation of environment variables in config string values.
 *
 *   ${VAR}           the variable's value; unset → a config error naming the path and the variable
 *   ${VAR:-default}  the default when VAR is unset or empty (shell semantics of `:-`)
 *   $${              a literal `${` (the escape is only needed before `{`)
 *
 * Only string values are interpolated, never keys. The result records which variables fed which
 * config path, so `redactConfig` can hide values that came from secret-looking variables.
 */

export type ConfigPath = readonly (string | number)[];

export interface InterpolationProblem {
  path: ConfigPath;
  message: string;
}

export interface InterpolationSource {
  path: ConfigPath;
  /** Variables whose values (not defaults) went into this string. */
  variables: string[];
}

export interface InterpolationResult {
  value: unknown;
  problems: InterpolationProblem[];
  sources: InterpolationSource[];
}

const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Returns a copy of `value` with every string interpolated; plain objects and arrays are walked, anything else (functions, class instances in a TS config) is kept as is. */
export function interpolateConfig(value: unknown, env: NodeJS.ProcessEnv): InterpolationResult {
  const problems: InterpolationProblem[] = [];
  const sources: InterpolationSource[] = [];
  const walk = (v: unknown, path: (string | number)[]): unknown => {
    if (typeof v === 'string') {
      if (!v.includes('$')) return v;
      const r = interpolateString(v, env);
      for (const message of r.problems) problems.push({ path: [...path], message });
      if (r.variables.length > 0) sources.push({ path: [...path], variables: r.variables });
      return r.value;
    }
    if (Array.isArray(v)) return v.map((item, i) => walk(item, [...path, i]));
    if (isPlainObject(v)) {
      const out: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(v)) out[k] = walk(item, [...path, k]);
      return out;
    }
    return v;
  };
  return { value: walk(value, []), problems, sources };
}

/** Interpolates one string. Problems are messages without the path (the caller adds it). */
export function interpolateString(
  text: string,
  env: NodeJS.ProcessEnv,
): { value: string; variables: string[]; problems: string[] } {
  const variables: string[] = [];
  const problems: string[] = [];
  let out = '';
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar === -1) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, dollar);
    if (text.startsWith('$${', dollar)) {
      out += '${';
      i = dollar + 3;
      continue;
    }
    if (text[dollar + 1] !== '{') {
      out += '$';
      i = dollar + 1;
      continue;
    }
    const close = text.indexOf('}', dollar + 2);
    if (close === -1) {
      problems.push(`unterminated "\${" (write "$\${" for a literal "\${")`);
      out += text.slice(dollar);
      break;
    }
    const body = text.slice(dollar + 2, close);
    const sep = body.indexOf(':-');
    const name = sep === -1 ? body : body.slice(0, sep);
    const fallback = sep === -1 ? undefined : body.slice(sep + 2);
    i = close + 1;
    if (!VAR_NAME.test(name)) {
      problems.push(
        `"\${${body}}" is not a valid reference; use \${NAME} or \${NAME:-default} (write "$\${" for a literal "\${")`,
      );
      continue;
    }
    const found = env[name];
    if (found !== undefined && (found !== '' || fallback === undefined)) {
      out += found;
      variables.push(name);
    } else if (fallback !== undefined) {
      out += fallback;
    } else {
      problems.push(`environment variable ${name} is not set (set it, or write \${${name}:-default})`);
    }
  }
  return { value: out, variables, problems };
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}
