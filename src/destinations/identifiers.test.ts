import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { quoteIdent, seenTableName, shadowTableName } from './identifiers.ts';

describe('identifiers', () => {
  it('quotes valid names and refuses anything else', () => {
    assert.equal(quoteIdent('notices_2024'), '"notices_2024"');
    for (const bad of ['a"b', 'x; DROP TABLE y', '1abc', '', 'a'.repeat(64), 'naïve']) {
      assert.throws(() => quoteIdent(bad), /not a valid SQL name/);
    }
  });

  it('derives seen and shadow names within 63 characters, distinct for long names sharing a prefix', () => {
    assert.equal(seenTableName('notices'), 'tributary_seen_notices');
    assert.equal(shadowTableName('notices'), 'notices__tributary_new');
    const a = 'x'.repeat(60) + 'abc';
    const b = 'x'.repeat(60) + 'abd';
    for (const f of [seenTableName, shadowTableName]) {
      assert.ok(f(a).length <= 63, f(a));
      assert.notEqual(f(a), f(b));
      assert.doesNotThrow(() => quoteIdent(f(a)));
    }
    assert.ok(shadowTableName(a).endsWith('__tributary_new'));
  });
});
