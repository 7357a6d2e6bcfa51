// A small JSON Schema validator for the subset the grammar compiler supports, used to check
// constrained generations independently of the grammar.

type S = boolean | Record<string, any>;

export function validate(value: unknown, schema: S, root: S = schema, path = "$"): string[] {
  if (schema === true) return [];
  if (schema === false) return [`${path}: no value allowed`];
  const s = schema;
  if (s.$ref) {
    const m = /^#\/(\$defs|definitions)\/(.+)$/.exec(s.$ref);
    return validate(value, (root as any)[m![1]!][m![2]!], root, path);
  }
  const errs: string[] = [];
  if ("const" in s && JSON.stringify(value) !== JSON.stringify(s.const)) errs.push(`${path}: not const`);
  if (s.enum && !s.enum.some((e: unknown) => JSON.stringify(e) === JSON.stringify(value))) errs.push(`${path}: not in enum`);
  const alts = s.anyOf ?? s.oneOf;
  if (alts) {
    const { anyOf: _a, oneOf: _o, ...rest } = s;
    if (!alts.some((a: S) => validate(value, typeof a === "object" ? { ...rest, ...a } : a, root, path).length === 0)) errs.push(`${path}: no anyOf branch fits`);
    return errs;
  }
  if (s.allOf) {
    // closed-object convention (no additionalProperties = no other keys) applies to the merged parts
    const { allOf, ...rest } = s;
    const merged: Record<string, any> = { ...rest };
    for (const part of allOf) {
      for (const [k, v] of Object.entries(part as object)) {
        if (k === "properties") merged.properties = { ...merged.properties, ...(v as object) };
        else if (k === "required") merged.required = [...(merged.required ?? []), ...(v as string[])];
        else merged[k] = v;
      }
    }
    return [...errs, ...validate(value, merged, root, path)];
  }
  const types = s.type === undefined ? undefined : Array.isArray(s.type) ? s.type : [s.type];
  const typeOf = (v: unknown) =>
    v === null ? "null" : Array.isArray(v) ? "array" : typeof v === "number" ? (Number.isInteger(v) ? "integer" : "number") : typeof v;
  if (types) {
    const t = typeOf(value);
    if (!types.includes(t) && !(t === "integer" && types.includes("number"))) return [...errs, `${path}: type ${t} not ${types}`];
  }
  if (typeof value === "string") {
    const n = [...value].length;
    if (s.minLength !== undefined && n < s.minLength) errs.push(`${path}: too short`);
    if (s.maxLength !== undefined && n > s.maxLength) errs.push(`${path}: too long`);
  }
  if (Array.isArray(value)) {
    if (s.minItems !== undefined && value.length < s.minItems) errs.push(`${path}: too few items`);
    if (s.maxItems !== undefined && value.length > s.maxItems) errs.push(`${path}: too many items`);
    if (s.prefixItems) {
      if (value.length !== s.prefixItems.length) errs.push(`${path}: tuple length`);
      s.prefixItems.forEach((p: S, i: number) => errs.push(...validate(value[i], p, root, `${path}[${i}]`)));
    } else if (s.items !== undefined) value.forEach((v, i) => errs.push(...validate(v, s.items, root, `${path}[${i}]`)));
  }
  if (value && typeof value === "object" && !Array.isArray(value)) {
    const props = s.properties ?? {};
    for (const r of s.required ?? []) if (!(r in value)) errs.push(`${path}: missing ${r}`);
    const extra = s.additionalProperties === undefined ? s.properties === undefined : s.additionalProperties;
    for (const [k, v] of Object.entries(value)) {
      if (k in props) errs.push(...validate(v, props[k], root, `${path}.${k}`));
      else if (extra === false) errs.push(`${path}: unexpected key ${k}`);
      else errs.push(...validate(v, extra, root, `${path}.${k}`));
    }
  }
  return errs;
}
