// JSON Schemas for constrained-generation tests (the grammar tests with random logits, the engine
// tests on real and random-weight models): ≥ 20 schemas covering the supported keywords. Strings
// and arrays are bounded so that generation from a model that wants garbage still ends.

const str = (n = 6) => ({ type: "string", maxLength: n });
export const schemas: Record<string, unknown> = {
  string: str(),
  integer: { type: "integer" },
  number: { type: "number" },
  boolean: { type: "boolean" },
  null: { type: "null" },
  enum: { enum: ["red", "green", 3, null, true] },
  const: { const: { a: [1, "x"] } },
  nullableString: { type: ["string", "null"], maxLength: 4 },
  minLength: { type: "string", minLength: 2, maxLength: 3 },
  arrayOfInts: { type: "array", items: { type: "integer" }, maxItems: 4 },
  minMaxItems: { type: "array", items: { enum: ["a", "b"] }, minItems: 2, maxItems: 3 },
  tuple: { type: "array", prefixItems: [{ type: "boolean" }, str(3)] },
  flatObject: { type: "object", properties: { name: str(), age: { type: "integer" } }, required: ["name", "age"] },
  optionalProps: { type: "object", properties: { a: { type: "boolean" }, b: { type: "null" }, c: { type: "integer" } }, required: ["b"] },
  allOptional: { type: "object", properties: { x: { type: "boolean" }, y: { type: "boolean" } } },
  nested: {
    type: "object",
    properties: { user: { type: "object", properties: { id: { type: "integer" }, tags: { type: "array", items: str(3), maxItems: 2 } }, required: ["id", "tags"] }, ok: { type: "boolean" } },
    required: ["user", "ok"],
  },
  anyOf: { anyOf: [{ type: "integer" }, { type: "object", properties: { k: { enum: ["v"] } }, required: ["k"] }] },
  oneOfShared: { type: "object", oneOf: [{ properties: { kind: { const: "a" } }, required: ["kind"] }, { properties: { kind: { const: "b" }, n: { type: "number" } }, required: ["kind", "n"] }] },
  refs: { $defs: { point: { type: "object", properties: { x: { type: "integer" }, y: { type: "integer" } }, required: ["x", "y"] } }, type: "array", items: { $ref: "#/$defs/point" }, maxItems: 2 },
  definitions: { definitions: { color: { enum: ["r", "g"] } }, type: "object", properties: { c: { $ref: "#/definitions/color" } }, required: ["c"] },
  allOf: { allOf: [{ type: "object", properties: { a: { type: "integer" } }, required: ["a"] }, { properties: { b: { type: "boolean" } }, required: ["b"] }] },
  toolCall: {
    anyOf: [
      { type: "object", properties: { name: { const: "get_weather" }, parameters: { type: "object", properties: { city: str(5) }, required: ["city"] } }, required: ["name", "parameters"] },
      { type: "object", properties: { name: { const: "now" }, parameters: { type: "object", properties: {} } }, required: ["name", "parameters"] },
    ],
  },
};
