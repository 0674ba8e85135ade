import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TributaryError } from '../core/errors.ts';
import { getSourceFactory, sourceFactories } from './registry.ts';

test('getSourceFactory returns the factory registered for a type', () => {
  for (const [type, factory] of Object.entries(sourceFactories)) {
    assert.equal(getSourceFactory(type), factory);
    assert.equal(factory.type, type);
  }
  assert.equal(getSourceFactory('csv').type, 'csv');
});

test('an unknown type is a config error listing the known types', () => {
  for (const type of ['excel', 'constructor', 'toString']) {
    assert.throws(
      () => getSourceFactory(type),
      (err) =>
        err instanceof TributaryError &&
        err.code === 'config_invalid' &&
        err.message === `unknown source type "${type}"; known types: airtable, csv, http, json, jsonl`,
    );
  }
});
