/**
 * Airtable's error bodies (source-apis.md §1 "Rate limits and errors"): `{"error":{"type","message"}}`,
 * except one of the two documented 404 shapes, which is the bare string `{"error":"NOT_FOUND"}`.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`${status} ${JSON.stringify(body)}`);
    this.name = 'ApiError';
  }
}

export function apiError(status: number, type: string, message?: string): ApiError {
  return new ApiError(status, { error: message === undefined ? { type } : { type, message } });
}

/** The documented bodies, in one place so handlers and fault injection send the same ones. */
export const ERRORS = {
  authenticationRequired: () => apiError(401, 'AUTHENTICATION_REQUIRED', 'Authentication required'),
  rateLimited: () => apiError(429, 'RATE_LIMIT_REACHED', 'Rate limit exceeded. Please try again later'),
  routeNotFound: () => new ApiError(404, { error: 'NOT_FOUND' }),
  notFound: (message: string) => apiError(404, 'NOT_FOUND', message),
  /** An unknown base or table looks, to the API, like one the token may not see (403, not 404). */
  modelNotFound: () =>
    apiError(
      403,
      'INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND',
      'Invalid permissions, or the requested model was not found. Check that both your user and your token have the required permissions, and that the model names and/or ids are correct.',
    ),
  invalidRequest: (message = 'Invalid request: parameter validation failed. Check your request data.') =>
    apiError(422, 'INVALID_REQUEST_UNKNOWN', message),
  iteratorNotAvailable: () => apiError(422, 'LIST_RECORDS_ITERATOR_NOT_AVAILABLE'),
  invalidOffset: (offset: string) =>
    apiError(422, 'INVALID_OFFSET_VALUE', `The value of offset ${offset} is invalid`),
  unknownField: (name: string) => apiError(422, 'UNKNOWN_FIELD_NAME', `Unknown field name: "${name}"`),
  invalidFormula: (detail: string) =>
    apiError(422, 'INVALID_FILTER_BY_FORMULA', `The formula for filtering records is invalid: ${detail}`),
  viewNotFound: (name: string) => apiError(422, 'VIEW_NAME_NOT_FOUND', `Could not find view ${name}`),
  badJson: () =>
    apiError(400, 'INVALID_REQUEST_UNKNOWN', 'Invalid request: the body could not be parsed as JSON'),
  uriTooLong: () => apiError(414, 'INVALID_REQUEST_UNKNOWN', 'URL is too long: use POST …/listRecords'),
  serverError: () => apiError(500, 'SERVER_ERROR', 'Server error'),
  badGateway: () => apiError(502, 'SERVER_ERROR', 'Bad gateway: servers are restarting, retry'),
  retriable: () =>
    apiError(
      503,
      'RETRIABLE_ERROR',
      'Server encountered an error while processing your request, and it is safe to retry the request',
    ),
} as const;
