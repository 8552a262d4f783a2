/**
 * The JSON schema of an answer in our roles' wire format, `{"response": {...}}`, with every
 * field required and no others allowed (what strict `json_schema` response formats ask for).
 */
export function responseEnvelopeSchema(fields: Record<string, Record<string, unknown>>): Record<string, unknown> {
  return {
    type: "object",
    additionalProperties: false,
    required: ["response"],
    properties: {
      response: {
        type: "object",
        additionalProperties: false,
        required: Object.keys(fields),
        properties: fields,
      },
    },
  };
}
