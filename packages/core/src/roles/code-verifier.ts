/** One problem found by code verification. */
export interface CodeProblem {
  /** 1-based line in the code as the model wrote it. */
  line: number;
  message: string;
}

/** Checks code before it runs; the slot the code-verification feature plugs into. */
export interface CodeVerifier {
  /** What the checks enforce, in a phrase for the prompt (e.g. "imports only of pandas, numpy"). */
  rules: string;
  verify(code: string): Promise<CodeProblem[]>;
}
