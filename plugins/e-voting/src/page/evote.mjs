// How a script calls the ballot maker (assets/evote.wasm, built from
// evote/web): one JSON request in, one JSON answer out, through the
// module's own memory. Shared by the ballot page (vote.js) and its
// benchmark (evote/web/bench.mjs). A trap in the module is thrown.

// A function that sends `request` to the module instance's `exports` and
// returns its answer: `{ok: …}` or `{error: {code, message}}`.
export function caller(exports) {
  return (request) => {
    const bytes = new TextEncoder().encode(JSON.stringify(request));
    const ptr = exports.evote_alloc(bytes.length);
    new Uint8Array(exports.memory.buffer, ptr, bytes.length).set(bytes);
    // The answer's address in the high 32 bits, its length in the low 32.
    const packed = BigInt.asUintN(64, exports.evote_call(ptr, bytes.length));
    const outPtr = Number(packed >> 32n);
    const outLen = Number(packed & 0xffffffffn);
    const text = new TextDecoder().decode(new Uint8Array(exports.memory.buffer, outPtr, outLen));
    exports.evote_free(outPtr, outLen);
    return JSON.parse(text);
  };
}
