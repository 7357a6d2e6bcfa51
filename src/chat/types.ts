// OpenAI-shaped chat data, as the server receives it and templates read it.

export interface ToolCall {
  id: string;
  type: "function";
  function: {
    name: string;
    /** A JSON text, as OpenAI sends and returns it. */
    arguments: string;
  };
}

export interface ContentPart {
  type: string;
  text?: string;
  [key: string]: unknown;
}

export interface ChatMessage {
  role: "system" | "user" | "assistant" | "tool" | "ipython" | (string & {});
  content?: string | ContentPart[] | null;
  name?: string;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
  [key: string]: unknown;
}

export interface ToolFunction {
  name: string;
  description?: string;
  parameters?: Record<string, unknown>;
}

export interface Tool {
  type: "function";
  function: ToolFunction;
}
