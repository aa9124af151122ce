/**
 * The Redis layout of the bus. Every key of one namespace carries the hash tag `{<ns>}`, so the scripts
 * that touch several of them run on one slot (Redis Cluster) and are atomic.
 *
 * | key (prefix `pulse:bus:` by default)   | type   | content                                                        |
 * |----------------------------------------|--------|----------------------------------------------------------------|
 * | `{<ns>}:log`                           | stream | one entry per event, in publish order (fields: `entry.ts`)      |
 * | `{<ns>}:ids`                           | hash   | event id → entry id (start-from-id, `Last-Event-ID`, durables) |
 * |                                        |        | both trimmed together by the put scripts to the retention       |
 * | `{<ns>}:seq`                           | string | events ever published in the namespace (`X-BUS-EVENT-INDEX`)    |
 * | `{<ns>}:dedup`                         | zset   | `<subject>\n<key>` → expiry (ms): dedup keys published         |
 * | `{<ns>}:confirm:<inbox>`               | hash   | `want` = n, then one field per consumer id that acked; PX       |
 * | `{<ns>}:durable:<name>`                | hash   | `cursor` = last entry id done, `pattern`                        |
 * | `{<ns>}:subs`                          | zset   | `<pattern>\n<consumer id>` → expiry (ms): live subscriptions    |
 * | channel `inbox:<name>`                 | pubsub | replies and confirmations for the inbox `_bus_.<name>`         |
 */

export const DEFAULT_BUS_KEY_PREFIX = 'pulse:bus:'

export class BusKeys {
  readonly prefix: string

  constructor(prefix: string = DEFAULT_BUS_KEY_PREFIX) {
    this.prefix = prefix
  }

  log(ns: string): string {
    return `${this.prefix}{${ns}}:log`
  }

  ids(ns: string): string {
    return `${this.prefix}{${ns}}:ids`
  }

  seq(ns: string): string {
    return `${this.prefix}{${ns}}:seq`
  }

  dedup(ns: string): string {
    return `${this.prefix}{${ns}}:dedup`
  }

  confirm(ns: string, inbox: string): string {
    return `${this.prefix}{${ns}}:confirm:${inbox}`
  }

  durable(ns: string, name: string): string {
    return `${this.prefix}{${ns}}:durable:${name}`
  }

  subs(ns: string): string {
    return `${this.prefix}{${ns}}:subs`
  }

  /** The pub/sub channel of an inbox subject `_bus_.<name>` (pass the whole subject). */
  inbox(subject: string): string {
    return `${this.prefix}inbox:${subject}`
  }

  /** The namespace of a stream key made by `log`. */
  namespaceOfLog(key: string): string {
    return key.slice(this.prefix.length + 1, key.length - '}:log'.length)
  }
}
