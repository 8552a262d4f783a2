// `pnpm taskweaver` runs tsx from the repository root, whose settings do not apply the React
// JSX runtime of this package's tsconfig: these pragmas make every runner compile JSX alike.
/* @jsxRuntime automatic */
/* @jsxImportSource react */
import { Box, Text } from "ink";
import type { ReactNode } from "react";
import {
  blockBody,
  blockTitle,
  isAnswerToUser,
  isHiddenType,
  messageTitle,
  parseArtifactPaths,
} from "../render/blocks.js";
import type { BlockView, PostView as PostModel } from "../render/conversation.js";
import { FOLD_LINES, FOLDED_VISIBLE_LINES } from "./controller.js";
import { artifactUrl, hyperlink } from "./hyperlink.js";
import { tokenizePython, type PythonTokenKind } from "./python-highlight.js";

const TOKEN_COLORS: Record<PythonTokenKind, string | undefined> = {
  keyword: "magenta",
  builtin: "cyan",
  string: "green",
  number: "yellow",
  comment: "gray",
  decorator: "yellow",
  function: "blueBright",
  plain: undefined,
};

/** Python code, coloured. */
export function CodeText({ code }: { code: string }) {
  return (
    <Text>
      {tokenizePython(code).map((token, index) => (
        <Text key={index} color={TOKEN_COLORS[token.kind]}>
          {token.text}
        </Text>
      ))}
    </Text>
  );
}

const STATUS_COLORS: Record<string, string> = {
  SUCCESS: "green",
  FAILURE: "red",
  CORRECT: "green",
  INCORRECT: "red",
  NONE: "gray",
};

/** A long text cut to its first lines, with the way to see the rest. */
export function FoldedText({ text, color }: { text: string; color?: string }) {
  const lines = text.split("\n");
  if (lines.length <= FOLD_LINES) return <Text color={color}>{text}</Text>;
  const hidden = lines.length - FOLDED_VISIBLE_LINES;
  return (
    <Box flexDirection="column">
      <Text color={color}>{lines.slice(0, FOLDED_VISIBLE_LINES).join("\n")}</Text>
      <Text dimColor>{`... ${hidden} more lines (type /expand to see all)`}</Text>
    </Box>
  );
}

function BlockBody({
  block,
  title,
  workingDirectory,
}: {
  block: BlockView;
  title: string;
  workingDirectory?: string;
}) {
  const body = blockBody(block).trimEnd();
  if (body === "") return null;
  switch (title) {
    case "PYTHON":
      return <CodeText code={body} />;
    case "STATUS":
    case "VERIFICATION":
      return <Text color={STATUS_COLORS[body.trim()]}>{body}</Text>;
    case "RESULT":
      return <FoldedText text={body} />;
    case "CODE_ERROR":
      return <Text color="red">{body}</Text>;
    case "ARTIFACT_PATHS":
      return (
        <Box flexDirection="column">
          {parseArtifactPaths(block.content).map((path) => (
            <Text key={path} color="blue" underline>
              {hyperlink(artifactUrl(path, workingDirectory), path)}
            </Text>
          ))}
        </Box>
      );
    default:
      return <Text>{body}</Text>;
  }
}

/** A `>>> [TITLE]` header. */
export function BlockHeader({ title }: { title: string }) {
  return <Text color="cyan">{`>>> [${title}]`}</Text>;
}

/** The `TaskWeaver: <answer>` line. */
export function AnswerLine({ message }: { message: string }) {
  return (
    <Text>
      <Text bold color="green">
        TaskWeaver:{" "}
      </Text>
      {message}
    </Text>
  );
}

export interface PostViewProps {
  post: PostModel;
  /** Resolves artifact paths for hyperlinks. */
  workingDirectory?: string;
  /** True for the post that is still streaming: shows live output of running code. */
  streaming?: boolean;
  /** True when the round was stopped while this post streamed. */
  interrupted?: boolean;
}

/** One post as the classic console blocks, coloured; the same whether streaming or finished. */
export function PostView({ post, workingDirectory, streaming = false, interrupted = false }: PostViewProps) {
  const children: ReactNode[] = [];
  for (const block of post.blocks) {
    if (isHiddenType(block.type)) continue;
    const title = blockTitle(block, post) ?? "CODE";
    children.push(
      <Box key={block.key} flexDirection="column">
        <BlockHeader title={title} />
        <BlockBody block={block} title={title} workingDirectory={workingDirectory} />
      </Box>,
    );
  }
  const hasResult = post.blocks.some((block) => block.type === "execution_result");
  if (streaming && post.liveOutput !== "" && !hasResult) {
    const tail = post.liveOutput.trimEnd().split("\n").slice(-8).join("\n");
    children.push(
      <Box key="live-output" flexDirection="column">
        <Text dimColor>{"... output so far:"}</Text>
        <Text dimColor>{tail}</Text>
      </Box>,
    );
  }
  const title = messageTitle(post);
  const message = post.message.trim();
  if (title !== undefined && (message !== "" || post.ended)) {
    children.push(
      isAnswerToUser(post) ? (
        <AnswerLine key="message" message={message} />
      ) : (
        <Box key="message" flexDirection="column">
          <BlockHeader title={title} />
          {message !== "" ? <Text>{message}</Text> : null}
        </Box>
      ),
    );
  }
  if (interrupted)
    children.push(<Text key="interrupted" color="yellow">{`(${post.role} was stopped here)`}</Text>);
  return <Box flexDirection="column">{children}</Box>;
}
