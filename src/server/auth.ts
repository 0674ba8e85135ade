import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { TributaryError } from '../core/errors.ts';

/**
 * Bearer-token auth for /api and /metrics (DESIGN "HTTP API"). The token comes from
 * $TRIBUTARY_TOKEN only; without one the server refuses every address but loopback.
 */

/** Constant-time check of an Authorization header against the token (digests make lengths equal). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  const given = createHash('sha256')
    .update(m?.[1] ?? '')
    .digest();
  const expected = createHash('sha256').update(token).digest();
  // Compare even when the header is malformed, so timing says nothing about why it failed.
  return timingSafeEqual(given, expected) && m !== null;
}

/** Paths that need the token when one is set; /health stays open for load balancers. */
export function needsAuth(url: string): boolean {
  const path = url.split('?', 1)[0]!;
  return path === '/api' || path.startsWith('/api/') || path === '/metrics';
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (h === '::1') return true;
  return /^::ffff:127\./.test(h);
}

/** Without a token, binding anywhere but loopback would publish an unauthenticated API. */
export function assertBindAllowed(host: string, token: string | null): void {
  if (token || isLoopback(host)) return;
  throw new TributaryError(
    'usage',
    `refusing to listen on ${host} without authentication: set TRIBUTARY_TOKEN to a long random secret, or listen on 127.0.0.1`,
  );
}
