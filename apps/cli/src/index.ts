// The CLI's reusable parts: the transcript renderer (classic console text from the event
// stream) and `main`, for embedding the command in another program or testing it.
export type { AttachedFile, ChatApp, ChatSession, SendMessageOptions } from "./app-types.js";
export { HELP_TEXT, parseCommandLine, type CommandLine } from "./args.js";
export { BANNER_LINES, GREETING, renderOpening } from "./banner.js";
export { main, type CreateApp, type DemoScript, type MainOptions, type StartInteractive } from "./main.js";
export {
  applyEvent,
  createRoundView,
  postViewFromPost,
  roundViewFromRound,
  type BlockView,
  type PostView,
  type RoundView,
} from "./render/conversation.js";
export { renderPostText, renderRoundError } from "./render/text.js";
export {
  createTranscriptWriter,
  type TranscriptWriter,
  type TranscriptWriterOptions,
} from "./render/transcript-writer.js";
export { runTranscript, type TranscriptOptions } from "./transcript.js";
