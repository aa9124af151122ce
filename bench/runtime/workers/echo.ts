// Worker: echoes every postMessage back, and serves `echo` over comlink on the port in workerData.
import { type MessagePort, parentPort, workerData } from 'node:worker_threads'

import * as Comlink from 'comlink'
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs'

export interface EchoApi {
  echo(value: unknown): unknown
}

parentPort?.on('message', (msg: unknown) => parentPort?.postMessage(msg))

const api: EchoApi = { echo: (value) => value }
Comlink.expose(api, nodeEndpoint((workerData as { port: MessagePort }).port))
