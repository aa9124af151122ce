/**
 * The Lua helper that reads a list value stored in a map (the pool keeps its lists in maps): a JSON
 * array, or a legacy comma-separated string. Shared by the map's scripts and the pool's.
 */
export const kDecodeListLua = `
local function decode_list(value)
  if not value then return {} end
  local ok, decoded = pcall(cjson.decode, value)
  if ok and type(decoded) == 'table' then return decoded end
  local items = {}
  for item in string.gmatch(value, '[^,]+') do table.insert(items, item) end
  return items
end
`
