// Module hooks for the tests: the host's interfaces resolve to the fake.
export async function resolve(specifier, context, next) {
  if (specifier.startsWith('hutong:platform/')) {
    return { url: new URL('./fake-host.mjs', import.meta.url).href, shortCircuit: true };
  }
  return next(specifier, context);
}
