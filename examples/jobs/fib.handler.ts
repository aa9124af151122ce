// A CPU-bound job handler, run on a handler-pool thread (registered with `thread: { module }`).
import { threadId } from 'node:worker_threads'

function fib(n: number): number {
  return n < 2 ? n : fib(n - 1) + fib(n - 2)
}

export default function fibJob(args: { n: number }): { value: number; threadId: number } {
  return { value: fib(args.n), threadId }
}
