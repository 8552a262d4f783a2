/** Helpers that turn a zod issue into words naming the field and the value found. */

/** `parameters[0].type` from a zod issue path. */
export function fieldPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((text, part) => {
    if (typeof part === "number") return `${text}[${part}]`;
    return text ? `${text}.${String(part)}` : String(part);
  }, "");
}

/** The offending value, for messages (zod 4 leaves it out of issues), cut to 60 characters. */
export function valueAt(raw: unknown, path: readonly PropertyKey[]): string | undefined {
  let current: unknown = raw;
  for (const part of path) {
    if (typeof current !== "object" || current === null) return undefined;
    current = (current as Record<PropertyKey, unknown>)[part];
  }
  if (current === undefined) return undefined;
  const text = JSON.stringify(current) ?? String(current);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
