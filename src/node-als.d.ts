/**
 * The one Node API the worker uses, enabled by the `nodejs_als` compatibility flag. Declared here
 * rather than by adding @types/node to the worker's types, which would also declare Node globals
 * (Buffer, process) that workerd does not provide.
 */
declare module 'node:async_hooks' {
  export class AsyncLocalStorage<T> {
    run<R>(store: T, callback: () => R): R
    getStore(): T | undefined
  }
}
