import { TributaryError } from '../core/errors.ts';
import { airtableSourceFactory } from './airtable/airtable-source.ts';
import { csvSourceFactory } from './files/csv-source.ts';
import { jsonSourceFactory } from './files/json-source.ts';
import { jsonlSourceFactory } from './files/jsonl-source.ts';
import { httpSourceFactory } from './http/http-source.ts';
import type { SourceFactory } from './source.ts';

/**
 * Every source type a config's `source: {type: …}` may name. A new source adds its factory here;
 * nothing else branches on the type.
 */
export const sourceFactories: Readonly<Record<string, SourceFactory>> = Object.freeze({
  [csvSourceFactory.type]: csvSourceFactory,
  [jsonlSourceFactory.type]: jsonlSourceFactory,
  [jsonSourceFactory.type]: jsonSourceFactory,
  [airtableSourceFactory.type]: airtableSourceFactory,
  [httpSourceFactory.type]: httpSourceFactory,
});

/** The factory for `type`; a config error listing the known types when there is none. */
export function getSourceFactory(type: string): SourceFactory {
  // hasOwn: "constructor" or "toString" must not resolve to Object.prototype members.
  const factory = Object.hasOwn(sourceFactories, type) ? sourceFactories[type] : undefined;
  if (factory === undefined) {
    const known = Object.keys(sourceFactories).sort().join(', ');
    throw new TributaryError('config_invalid', `unknown source type "${type}"; known types: ${known}`);
  }
  return factory;
}
