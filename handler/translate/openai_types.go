package translate

import "encoding/json"

// Wire shapes of OpenAI chat-completions requests and of the Anthropic
// Messages bodies they are translated into.

type oaiRequest struct {
	Model               string                     `json:"model"`
	Messages            []oaiMessage               `json:"messages"`
	Stream              *bool                      `json:"stream"`
	StreamOptions       *oaiStreamOptions          `json:"stream_options"`
	MaxTokens           *int64                     `json:"max_tokens"`
	MaxCompletionTokens *int64                     `json:"max_completion_tokens"`
	Stop                json.RawMessage            `json:"stop"`
	Temperature         *float64                   `json:"temperature"`
	TopP                *float64                   `json:"top_p"`
	N                   *int64                     `json:"n"`
	User                string                     `json:"user"`
	SafetyIdentifier    string                     `json:"safety_identifier"`
	Metadata            map[string]json.RawMessage `json:"metadata"`
	Tools               []oaiTool                  `json:"tools"`
	ToolChoice          json.RawMessage            `json:"tool_choice"`
	ParallelToolCalls   *bool                      `json:"parallel_tool_calls"`
	Functions           []oaiFunctionDef           `json:"functions"`
	FunctionCall        json.RawMessage            `json:"function_call"`
}

type oaiStreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type oaiMessage struct {
	Role         string          `json:"role"`
	Content      json.RawMessage `json:"content"`
	ToolCalls    []oaiToolCallIn `json:"tool_calls"`
	ToolCallID   string          `json:"tool_call_id"`
	Refusal      *string         `json:"refusal"`
	FunctionCall *oaiFunctionIn  `json:"function_call"`
}

// oaiToolCallIn is a tool call in a request's history. arguments is a JSON
// string per the API; an object is accepted too, as some clients send it.
type oaiToolCallIn struct {
	ID       string        `json:"id"`
	Type     string        `json:"type"`
	Function oaiFunctionIn `json:"function"`
}

type oaiFunctionIn struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

type oaiToolCall struct {
	ID       string      `json:"id"`
	Type     string      `json:"type"`
	Function oaiFunction `json:"function"`
}

type oaiFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type oaiTool struct {
	Type     string         `json:"type"`
	Function oaiFunctionDef `json:"function"`
}

type oaiFunctionDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
}

type oaiPart struct {
	Type     string          `json:"type"`
	Text     string          `json:"text"`
	Refusal  string          `json:"refusal"`
	ImageURL json.RawMessage `json:"image_url"` // {url, detail} or, leniently, a bare string
	File     *struct {
		FileData string `json:"file_data"`
		FileID   string `json:"file_id"`
		Filename string `json:"filename"`
	} `json:"file"`
}

// --- Anthropic wire types (request) ---

type anthRequest struct {
	Model         string          `json:"model"`
	MaxTokens     int64           `json:"max_tokens"`
	System        string          `json:"system,omitempty"`
	Messages      []anthMessage   `json:"messages"`
	Tools         []anthTool      `json:"tools,omitempty"`
	ToolChoice    *anthToolChoice `json:"tool_choice,omitempty"`
	StopSequences []string        `json:"stop_sequences,omitempty"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	Metadata      *anthMetadata   `json:"metadata,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
}

type anthMessage struct {
	Role    string `json:"role"`
	Content any    `json:"content"` // string, a JSON string literal (json.RawMessage), or []anthBlock
}

// anthBlock is a content block; the field order gives the conventional key
// order ("type" first).
type anthBlock struct {
	Type      string          `json:"type"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   any             `json:"content,omitempty"` // tool_result: json.RawMessage string literal or []anthBlock
	Text      string          `json:"text,omitempty"`
	Source    *anthSource     `json:"source,omitempty"`
}

type anthSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

type anthTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type anthToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

type anthMetadata struct {
	UserID string `json:"user_id"`
}

// --- conversion ---
