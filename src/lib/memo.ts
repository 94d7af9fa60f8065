/**
 * Remembers what `build` made for an object for as long as that object lives. Workers reuse an
 * isolate's bindings, parsed configuration and database handle across requests, so anything
 * derived from one of them (imported keys, a prepared query, a CORS handler) is made once per
 * isolate instead of on every request, and is dropped with the object it came from.
 */
export function memoize<K extends object, V>(build: (key: K) => V): (key: K) => V {
  const made = new WeakMap<K, V>()
  return (key) => {
    if (made.has(key)) return made.get(key) as V
    const value = build(key)
    made.set(key, value)
    return value
  }
}
