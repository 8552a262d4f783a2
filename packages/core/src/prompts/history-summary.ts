/** Appends the running summary of compressed rounds to a system prompt. */
export function withSummary(systemPrompt: string, summary: string | undefined): string {
  return summary ? `${systemPrompt}\n\nSummary of the earlier conversation:\n${summary}` : systemPrompt;
}
