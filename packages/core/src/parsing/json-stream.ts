/**
 * An incremental JSON parser for model answers. It is fed text as it streams and reports each
 * field of the answer object while its value is still arriving, so the UI can show a plan or
 * code before the model has finished.
 *
 * Tolerated around the JSON: leading prose, Markdown code fences and `<think>...</think>`
 * blocks. The "fields" are the members of `{"response": {...}}` (TaskWeaver's wire format), or
 * of the top-level object when a model leaves out the `response` wrapper.
 *
 * Each member is parsed on its own, so an unknown field can never leak into its neighbours.
 */

export type FieldEvent =
  | { type: "field-start"; key: string }
  /** Decoded text of a string value, piece by piece. Non-string values arrive only at the end. */
  | { type: "field-delta"; key: string; delta: string }
  /** `value` is the parsed JSON value; `text` is the string itself or the JSON text of others. */
  | { type: "field-end"; key: string; value: unknown; text: string };

type Container =
  | { kind: "object"; value: Record<string, unknown>; key: string | undefined; state: "key" | "colon" | "value" | "comma" }
  | { kind: "array"; value: unknown[]; state: "value" | "comma" };

type Mode = "prefix" | "think" | "json" | "done";

export class JsonStreamParser {
  private mode: Mode = "prefix";
  private prefixText = "";
  private readonly stack: Container[] = [];
  private root: unknown = undefined;
  private rootSet = false;
  /** The string being read (a key or a value). */
  private stringBuffer: string | undefined;
  private stringIsKey = false;
  private escape: string | undefined;
  private pendingHighSurrogate: string | undefined;
  /** A number, true, false or null being read. */
  private literal: string | undefined;
  /** Field being streamed: its key and the stack depth at which its value lives. */
  private activeField: { key: string; depth: number; raw: boolean } | undefined;
  private error: string | undefined;
  private readonly events: FieldEvent[] = [];
  private readonly fieldValues: Record<string, unknown> = {};
  /** True once we know whether the fields live under `response` or at the top level. */
  private wrapperDecided = false;
  private fieldDepth = 2;

  /** Feeds more text; returns the field events it produced. */
  push(text: string): FieldEvent[] {
    for (let index = 0; index < text.length; index += 1) {
      if (this.mode === "done") break;
      const char = text[index]!;
      if (this.mode === "prefix") this.readPrefix(char);
      else if (this.mode === "think") this.readThink(char);
      else this.readJson(char);
    }
    this.flushStringDelta();
    return this.events.splice(0, this.events.length);
  }

  /** True when the top-level object has been closed. */
  get isComplete(): boolean {
    return this.mode === "done" && this.error === undefined;
  }

  /** Why parsing failed, if it did. */
  get parseError(): string | undefined {
    if (this.error) return this.error;
    if (this.mode === "prefix" || this.mode === "think") return "the answer holds no JSON object";
    if (this.mode === "json") return "the JSON object is not complete (the answer was cut off)";
    return undefined;
  }

  /** The whole parsed value (top-level object), once complete. */
  get value(): unknown {
    return this.rootSet ? this.root : undefined;
  }

  /** Every field seen so far with its complete value. */
  get fields(): Readonly<Record<string, unknown>> {
    return this.fieldValues;
  }

  private readPrefix(char: string) {
    this.prefixText += char;
    if (this.prefixText.endsWith("<think>")) {
      this.mode = "think";
      this.prefixText = "";
      return;
    }
    if (char === "{") {
      this.mode = "json";
      this.openContainer({ kind: "object", value: {}, key: undefined, state: "key" });
    }
    // Keep only a short tail: enough to recognise "<think>".
    if (this.prefixText.length > 16) this.prefixText = this.prefixText.slice(-8);
  }

  private readThink(char: string) {
    this.prefixText += char;
    if (this.prefixText.endsWith("</think>")) {
      this.mode = "prefix";
      this.prefixText = "";
    } else if (this.prefixText.length > 16) {
      this.prefixText = this.prefixText.slice(-8);
    }
  }

  private fail(message: string) {
    this.error ??= message;
    this.mode = "done";
  }

  private readJson(char: string) {
    if (this.stringBuffer !== undefined) {
      this.readStringChar(char);
      return;
    }
    if (this.literal !== undefined) {
      if (/[0-9eE+\-.a-z]/.test(char)) {
        this.literal += char;
        return;
      }
      this.finishLiteral();
      if (this.mode === "done") return;
    }
    if (char === " " || char === "\n" || char === "\r" || char === "\t") return;
    const top = this.stack[this.stack.length - 1];
    if (!top) return;
    if (top.kind === "object") {
      if (top.state === "key") {
        if (char === '"') {
          this.stringBuffer = "";
          this.stringIsKey = true;
        } else if (char === "}") this.closeContainer();
        else this.fail(`unexpected "${char}" where a field name was expected`);
        return;
      }
      if (top.state === "colon") {
        if (char === ":") top.state = "value";
        else this.fail(`unexpected "${char}" after field name "${top.key}"`);
        return;
      }
      if (top.state === "comma") {
        if (char === ",") top.state = "key";
        else if (char === "}") this.closeContainer();
        else this.fail(`unexpected "${char}" after the value of "${top.key}"`);
        return;
      }
    } else if (top.state === "comma") {
      if (char === ",") top.state = "value";
      else if (char === "]") this.closeContainer();
      else this.fail(`unexpected "${char}" in a list`);
      return;
    } else if (char === "]") {
      this.closeContainer();
      return;
    }
    this.startValue(char);
  }

  private startValue(char: string) {
    this.maybeStartField();
    if (char === '"') {
      this.stringBuffer = "";
      this.stringIsKey = false;
    } else if (char === "{") {
      this.openContainer({ kind: "object", value: {}, key: undefined, state: "key" });
    } else if (char === "[") {
      this.openContainer({ kind: "array", value: [], state: "value" });
    } else if (/[-0-9tfn]/.test(char)) {
      this.literal = char;
    } else {
      this.fail(`unexpected "${char}" where a value was expected`);
    }
  }

  /** A value is starting at the depth where answer fields live: announce the field. */
  private maybeStartField() {
    if (this.activeField) return;
    const top = this.stack[this.stack.length - 1];
    if (!top || top.kind !== "object" || top.key === undefined) return;
    if (!this.wrapperDecided && this.stack.length === 1) {
      this.wrapperDecided = true;
      this.fieldDepth = top.key === "response" ? 2 : 1;
    }
    if (this.stack.length !== this.fieldDepth) return;
    this.activeField = { key: top.key, depth: this.stack.length, raw: false };
    this.events.push({ type: "field-start", key: top.key });
  }

  private openContainer(container: Container) {
    if (this.activeField && this.stack.length === this.activeField.depth) this.activeField.raw = true;
    this.stack.push(container);
  }

  private closeContainer() {
    const container = this.stack.pop()!;
    this.completeValue(container.value);
  }

  private finishLiteral() {
    const text = this.literal!;
    this.literal = undefined;
    let value: unknown;
    if (text === "true") value = true;
    else if (text === "false") value = false;
    else if (text === "null") value = null;
    else {
      value = Number(text);
      if (!/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(text)) {
        this.fail(`"${text}" is not a JSON value`);
        return;
      }
    }
    this.completeValue(value);
  }

  /** A value (string, literal or container) is complete: attach it to its parent. */
  private completeValue(value: unknown) {
    const parent = this.stack[this.stack.length - 1];
    if (!parent) {
      this.root = value;
      this.rootSet = true;
      this.mode = "done";
      return;
    }
    if (parent.kind === "object") {
      parent.value[parent.key!] = value;
      if (this.activeField && this.stack.length === this.activeField.depth) {
        const key = this.activeField.key;
        this.activeField = undefined;
        this.fieldValues[key] = value;
        const text = typeof value === "string" ? value : JSON.stringify(value);
        this.events.push({ type: "field-end", key, value, text });
      }
      parent.state = "comma";
    } else {
      parent.value.push(value);
      parent.state = "comma";
    }
  }

  private get streamsActiveString(): boolean {
    return (
      !this.stringIsKey &&
      this.activeField !== undefined &&
      !this.activeField.raw &&
      this.stack.length === this.activeField.depth
    );
  }

  private streamedLength = 0;

  private flushStringDelta() {
    if (this.stringBuffer === undefined || !this.streamsActiveString) return;
    if (this.stringBuffer.length > this.streamedLength) {
      this.events.push({
        type: "field-delta",
        key: this.activeField!.key,
        delta: this.stringBuffer.slice(this.streamedLength),
      });
      this.streamedLength = this.stringBuffer.length;
    }
  }

  private readStringChar(char: string) {
    if (this.escape !== undefined) {
      this.escape += char;
      if (this.escape.startsWith("u")) {
        if (this.escape.length < 5) return;
        const code = Number.parseInt(this.escape.slice(1), 16);
        this.escape = undefined;
        if (Number.isNaN(code)) return this.fail("a broken \\u escape in a string");
        const decoded = String.fromCharCode(code);
        if (code >= 0xd800 && code <= 0xdbff) {
          this.pendingHighSurrogate = decoded;
          return;
        }
        this.appendString(decoded);
        return;
      }
      const simple: Record<string, string> = { n: "\n", t: "\t", r: "\r", b: "\b", f: "\f", '"': '"', "\\": "\\", "/": "/" };
      const decoded = simple[this.escape];
      this.escape = undefined;
      this.appendString(decoded ?? char);
      return;
    }
    if (char === "\\") {
      this.escape = "";
      return;
    }
    if (char === '"') {
      const text = this.stringBuffer!;
      this.flushStringDelta();
      this.stringBuffer = undefined;
      this.streamedLength = 0;
      if (this.stringIsKey) {
        const top = this.stack[this.stack.length - 1];
        if (top?.kind === "object") {
          top.key = text;
          top.state = "colon";
        }
        this.stringIsKey = false;
        return;
      }
      this.completeValue(text);
      return;
    }
    this.appendString(char);
  }

  private appendString(text: string) {
    if (this.pendingHighSurrogate !== undefined) {
      this.stringBuffer += this.pendingHighSurrogate;
      this.pendingHighSurrogate = undefined;
    }
    this.stringBuffer += text;
  }

  /** Call when the stream has ended: completes a trailing number literal. */
  end(): FieldEvent[] {
    if (this.literal !== undefined && this.mode === "json") this.finishLiteral();
    return this.events.splice(0, this.events.length);
  }
}
