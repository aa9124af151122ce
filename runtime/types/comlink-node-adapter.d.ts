// comlink ships this adapter's types next to the .mjs file under a name TypeScript does not pair with it.
declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink'

  export interface NodeEndpoint {
    postMessage(message: unknown, transfer?: never[]): void
    on(type: string, listener: (value: unknown) => void): void
    off(type: string, listener: (value: unknown) => void): void
    start?: () => void
  }
  export default function nodeEndpoint(nep: NodeEndpoint): Endpoint
}
