/** Keeps prompts bounded: long text keeps its head and tail with a note of what was cut. */
export function cutText(text: string, limit: number): string {
  if (text.length <= limit) return text;
  const head = text.slice(0, Math.floor(limit * 0.7));
  const tail = text.slice(text.length - Math.floor(limit * 0.2));
  return `${head}\n... [${text.length - head.length - tail.length} characters cut] ...\n${tail}`;
}
