/** XACK encoded as RESP in one string, for a `RespConnection` (entry ids are ASCII: length is bytes). */
export function xackCommand(key: string, group: string, ids: readonly string[]): string {
  let out = `*${ids.length + 3}\r\n$4\r\nXACK\r\n$${Buffer.byteLength(key)}\r\n${key}\r\n$${Buffer.byteLength(group)}\r\n${group}\r\n`
  for (const id of ids) out += `$${id.length}\r\n${id}\r\n`
  return out
}
