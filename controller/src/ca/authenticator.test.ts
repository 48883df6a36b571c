import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasCode } from '@ambit/core';
import { NodeCredentialAuthenticator } from './authenticator.ts';

test('node credentials map to their node; anything else is CA_BAD_TOKEN', async () => {
  const auth = new NodeCredentialAuthenticator(
    new Map([
      ['secret-a', 'node-a'],
      ['secret-b', 'node-b'],
    ]),
  );
  assert.deepEqual(await auth.authenticate('secret-a'), { node: 'node-a', caller: 'node-credential/node-a' });
  assert.deepEqual(await auth.authenticate('secret-b'), { node: 'node-b', caller: 'node-credential/node-b' });
  for (const token of ['', 'secret-', 'secret-a ', 'SECRET-A', 'secret-c']) {
    await assert.rejects(auth.authenticate(token), (err: unknown) => hasCode(err, 'CA_BAD_TOKEN'), JSON.stringify(token));
  }
});

test('an empty credential is refused at construction, since it would match a missing token', () => {
  assert.throws(() => new NodeCredentialAuthenticator({ '': 'node-a' }), /non-empty/);
  assert.throws(() => new NodeCredentialAuthenticator({ t: '' }), /non-empty/);
});
