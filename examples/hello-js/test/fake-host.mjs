// A fake of the host calls app.js makes (hutong:platform/kv and log), for
// the tests: kv in a Map, log lines in a list, and a switch that makes kv
// throw as the host does when the permission is not granted.

export const store = new Map();
export const logged = [];
let deniedPermission;

/** From now on kv calls throw the host's denial, as without the grant. */
export function deny(permission) {
  deniedPermission = permission;
}

/** Empty kv and the log, and grant kv again. */
export function reset() {
  store.clear();
  logged.length = 0;
  deniedPermission = undefined;
}

function check() {
  if (deniedPermission !== undefined) {
    const error = new Error(`denied: ${deniedPermission}`);
    error.payload = { tag: 'denied', val: deniedPermission };
    throw error;
  }
}

export function get(key) {
  check();
  return store.get(key);
}

export function set(key, value) {
  check();
  store.set(key, value);
}

export function write(level, message, fields) {
  logged.push({ level, message, fields });
}
