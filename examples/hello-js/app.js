// hello-js: a Hutong app written in JavaScript, built with jco and
// componentize-js.
//
// - `GET /` answers that it is running.
// - `GET /greet/{name}` greets and counts the visit in kv; JSON.
// - `GET /whoami` names the caller's role (not public: the host answers 401
//   to an anonymous caller before the app is called).
//
// A host call that fails throws a ComponentError whose `payload` is the WIT
// error: `{ tag: 'denied', val: 'kv' }` for a permission the district did
// not grant, `{ tag: 'limit-exceeded', val: '...' }`, and so on. WIT
// records are plain objects with camelCase fields; `list<u8>` is a
// Uint8Array; an absent `option` is undefined.

import { get, set } from 'hutong:platform/kv@0.1.0';
import { write } from 'hutong:platform/log@0.1.0';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function answer(status, body, contentType = 'text/plain; charset=utf-8') {
  return { status, headers: [['content-type', contentType]], body: encoder.encode(body) };
}

function greet(name) {
  const key = `visits/${name}`;
  let visits;
  try {
    const before = get(key);
    visits = before === undefined ? 1 : Number(decoder.decode(before)) + 1;
    set(key, encoder.encode(String(visits)));
  } catch (e) {
    if (e.payload?.tag === 'denied') {
      return answer(403, `this app may not use ${e.payload.val}: ask the district administrator`);
    }
    return answer(500, `kv failed: ${JSON.stringify(e.payload ?? String(e))}`);
  }
  write('info', 'greeted', [['name', name], ['visits', String(visits)]]);
  return answer(200, JSON.stringify({ greeting: `你好, ${name}!`, visits }), 'application/json');
}

export const httpHandler = {
  handle(request) {
    if (request.method !== 'GET') {
      return { status: 405, headers: [['allow', 'GET']], body: encoder.encode('only GET') };
    }
    const path = request.path;
    if (path === '/') {
      return answer(200, 'hello-js is running');
    }
    if (path.startsWith('/greet/') && path.length > '/greet/'.length) {
      return greet(decodeURIComponent(path.slice('/greet/'.length)));
    }
    if (path === '/whoami' && request.caller) {
      return answer(200, request.caller.role);
    }
    return answer(404, 'no such route; try /greet/{name}');
  },
};
