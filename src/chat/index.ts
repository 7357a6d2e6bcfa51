// Chat: templates, fallback formats, end-of-turn pieces, tool calls.
export { applyChatTemplate, templateWantsObjectArguments, type ApplyTemplateOptions } from "./template.ts";
export { JinjaTemplate, TemplateError, strftime } from "./jinja.ts";
export { detectChatFormat, formatChat, formatToText, formatToTokens, FORMAT_STOPS, messageText, pythonJson, type ChatFormatName, type Segment, type SegmentTokenizer } from "./formats.ts";
export { chatTemplateFromHf, chatTemplateFromMetadata, chatTemplateNames, endOfTurnPieces, hfSpecialToken } from "./source.ts";
export { detectToolCallFormat, parseToolCalls, TOOL_CALL_OPENERS, type ParsedReply, type ToolCallFormat } from "./tool-calls.ts";
export type { ChatMessage, ContentPart, Tool, ToolCall, ToolFunction } from "./types.ts";
