/**
 * A JSON encoder that writes bigint as a bare number, as etcdctl (Go) prints 64-bit IDs
 * (`"cluster_id":17237436991929493444`). JSON.stringify cannot encode bigint at all, and a
 * string or a float would not be what etcdctl prints. Readers that parse into doubles lose
 * precision on such IDs, as they do with etcdctl's output; --hex prints member IDs as strings.
 */
export type JsonValue = null | boolean | number | bigint | string | readonly JsonValue[] | JsonObject;
/** An object; undefined fields are left out. */
export interface JsonObject {
  readonly [key: string]: JsonValue | undefined;
}

export function encodeJson(value: JsonValue): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "bigint":
      return value.toString();
    case "boolean":
    case "number":
    case "string":
      return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v: JsonValue) => encodeJson(v)).join(",")}]`;
  const fields = Object.entries(value as JsonObject).filter((entry): entry is [string, JsonValue] => entry[1] !== undefined);
  return `{${fields.map(([key, v]) => `${JSON.stringify(key)}:${encodeJson(v)}`).join(",")}}`;
}
