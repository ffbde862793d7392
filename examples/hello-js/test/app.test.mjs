// Tests for app.js, outside the host (`npm test`): kv and log are the fakes
// of fake-host.mjs, so each route's answer and what it stores are checked.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';

import { httpHandler } from '../app.js';
import { deny, logged, reset, store } from './fake-host.mjs';

const get = (path) =>
  httpHandler.handle({ method: 'GET', path, query: '', headers: [], body: new Uint8Array(), requestId: 'test' });
const json = (response) => JSON.parse(new TextDecoder().decode(response.body));

beforeEach(reset);

test('it answers that it runs', () => {
  assert.equal(get('/').status, 200);
});

test('a greeting counts each visit in kv', () => {
  for (const visits of [1, 2]) {
    const response = get('/greet/ana');
    assert.equal(response.status, 200);
    assert.equal(json(response).visits, visits);
  }
  assert.equal(new TextDecoder().decode(store.get('visits/ana')), '2');
  assert.equal(logged.length, 2);
});

test('kv denied is answered with 403', () => {
  deny('kv');
  assert.equal(get('/greet/ana').status, 403);
  assert.equal(store.size, 0);
});

test('an unknown route is not found', () => {
  assert.equal(get('/nowhere').status, 404);
});
