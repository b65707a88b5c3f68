package translate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

func (r *OpenAIRequest) convertMessages(msgs []oaiMessage) error {
	a := &r.anth
	a.Messages = make([]anthMessage, 0, len(msgs))
	var system []string
	toolMsg := -1  // index in a.Messages of the user message collecting tool results
	lastFnID := "" // id given to the latest legacy assistant function_call
	for i, m := range msgs {
		param := fmt.Sprintf("messages[%d]", i)
		if m.Role != "tool" && m.Role != "function" {
			toolMsg = -1
		}
		switch m.Role {
		case "system", "developer":
			texts, err := textSegments(m.Content, param)
			if err != nil {
				return err
			}
			for _, t := range texts {
				if t != "" {
					system = append(system, t)
				}
			}
		case "user":
			content, err := userContent(m.Content, param)
			if err != nil {
				return err
			}
			a.Messages = append(a.Messages, anthMessage{Role: "user", Content: content})
		case "assistant":
			msg, fnID, err := assistantMessage(m, i, param)
			if err != nil {
				return err
			}
			if fnID != "" {
				lastFnID = fnID
			}
			if msg.Content != nil {
				a.Messages = append(a.Messages, msg)
			}
		case "tool", "function":
			id := m.ToolCallID
			if m.Role == "function" {
				id = lastFnID
				if id == "" {
					return reqErr(param, "A 'function' message must follow an assistant message with a function_call.")
				}
			} else if id == "" {
				return reqErr(param+".tool_call_id", "Missing required parameter: '%s.tool_call_id'.", param)
			}
			content, err := toolResultContent(m.Content, param)
			if err != nil {
				return err
			}
			block := anthBlock{Type: "tool_result", ToolUseID: sanitizeToolID(id), Content: content}
			if toolMsg >= 0 {
				prev := &a.Messages[toolMsg]
				prev.Content = append(prev.Content.([]anthBlock), block)
			} else {
				a.Messages = append(a.Messages, anthMessage{Role: "user", Content: []anthBlock{block}})
				toolMsg = len(a.Messages) - 1
			}
		default:
			return reqErr(param+".role", "Unsupported role '%s' in '%s'.", m.Role, param)
		}
	}
	a.System = strings.Join(system, "\n\n")
	return nil
}

// textSegments returns the texts of a system/developer message: its string
// content, or each text part.
func textSegments(raw json.RawMessage, param string) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case isNull(raw):
		return nil, nil
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, reqErr(param+".content", "Invalid '%s.content'.", param)
		}
		return []string{s}, nil
	}
	parts, err := decodeParts(raw, param)
	if err != nil {
		return nil, err
	}
	var out []string
	for j, p := range parts {
		if p.Type != "text" {
			return nil, reqErr(fmt.Sprintf("%s.content[%d].type", param, j), "Unsupported content part type '%s' in a system message: only text is allowed.", p.Type)
		}
		out = append(out, p.Text)
	}
	return out, nil
}

func decodeParts(raw json.RawMessage, param string) ([]oaiPart, error) {
	var parts []oaiPart
	if raw[0] != '[' || json.Unmarshal(raw, &parts) != nil {
		return nil, reqErr(param+".content", "Invalid type for '%s.content': expected a string or an array of content parts.", param)
	}
	return parts, nil
}

// userContent translates user content: a string stays a string, parts become
// blocks.
func userContent(raw json.RawMessage, param string) (any, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case isNull(raw):
		return emptyString, nil
	case raw[0] == '"':
		// A JSON string literal is the same in both formats: pass the
		// (already validated) bytes through instead of decoding and
		// re-encoding what is most of a request's volume.
		return raw, nil
	}
	parts, err := decodeParts(raw, param)
	if err != nil {
		return nil, err
	}
	blocks := make([]anthBlock, 0, len(parts))
	for j, p := range parts {
		pp := fmt.Sprintf("%s.content[%d]", param, j)
		switch p.Type {
		case "text":
			if p.Text != "" {
				blocks = append(blocks, anthBlock{Type: "text", Text: p.Text})
			}
		case "image_url":
			b, err := imageBlock(p.ImageURL, pp)
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, b)
		case "file":
			b, err := fileBlock(p, pp)
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, b)
		default:
			return nil, reqErr(pp+".type", "Unsupported content part type '%s': only text, image_url and PDF file parts can be translated.", p.Type)
		}
	}
	return blocks, nil
}

func imageBlock(raw json.RawMessage, param string) (anthBlock, error) {
	var url string
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		_ = json.Unmarshal(raw, &url)
	} else {
		var obj struct {
			URL string `json:"url"`
		}
		_ = json.Unmarshal(raw, &obj)
		url = obj.URL
	}
	param += ".image_url.url"
	switch {
	case strings.HasPrefix(url, "data:"):
		media, data, ok := parseDataURL(url)
		if !ok {
			return anthBlock{}, reqErr(param, "Invalid image data URL in '%s': expected data:<media type>;base64,<data>.", param)
		}
		return anthBlock{Type: "image", Source: &anthSource{Type: "base64", MediaType: media, Data: data}}, nil
	case strings.HasPrefix(url, "https://"), strings.HasPrefix(url, "http://"):
		return anthBlock{Type: "image", Source: &anthSource{Type: "url", URL: url}}, nil
	case url == "":
		return anthBlock{}, reqErr(param, "Missing required parameter: '%s'.", param)
	}
	return anthBlock{}, reqErr(param, "Unsupported image URL in '%s': expected a data: URL or an http(s) URL.", param)
}

func fileBlock(p oaiPart, param string) (anthBlock, error) {
	if p.File == nil || p.File.FileData == "" {
		return anthBlock{}, reqErr(param+".file", "Unsupported file part in '%s': only inline file_data (a PDF data: URL) can be translated, not file_id.", param)
	}
	media, data, ok := parseDataURL(p.File.FileData)
	if !ok || media != "application/pdf" {
		return anthBlock{}, reqErr(param+".file.file_data", "Unsupported file_data in '%s': expected data:application/pdf;base64,<data>.", param)
	}
	return anthBlock{Type: "document", Source: &anthSource{Type: "base64", MediaType: media, Data: data}}, nil
}

// parseDataURL splits data:<media>[;params];base64,<data>.
func parseDataURL(u string) (media, data string, ok bool) {
	meta, data, found := strings.Cut(strings.TrimPrefix(u, "data:"), ",")
	if !found {
		return "", "", false
	}
	params := strings.Split(meta, ";")
	media = params[0]
	base64 := false
	for _, p := range params[1:] {
		if p == "base64" {
			base64 = true
		}
	}
	return media, data, media != "" && base64 && data != ""
}

// assistantMessage translates an assistant message. Content is nil when the
// message carries nothing and is to be dropped; fnID is the id given to a
// legacy function_call.
func assistantMessage(m oaiMessage, index int, param string) (anthMessage, string, error) {
	var blocks []anthBlock
	raw := bytes.TrimSpace(m.Content)
	stringContent := false
	var text string
	switch {
	case isNull(raw):
	case raw[0] == '"':
		if err := json.Unmarshal(raw, &text); err != nil {
			return anthMessage{}, "", reqErr(param+".content", "Invalid '%s.content'.", param)
		}
		stringContent = true
		if text != "" {
			blocks = append(blocks, anthBlock{Type: "text", Text: text})
		}
	default:
		parts, err := decodeParts(raw, param)
		if err != nil {
			return anthMessage{}, "", err
		}
		for j, p := range parts {
			switch p.Type {
			case "text":
				if p.Text != "" {
					blocks = append(blocks, anthBlock{Type: "text", Text: p.Text})
				}
			case "refusal":
				if p.Refusal != "" {
					blocks = append(blocks, anthBlock{Type: "text", Text: p.Refusal})
				}
			default:
				return anthMessage{}, "", reqErr(fmt.Sprintf("%s.content[%d].type", param, j), "Unsupported content part type '%s' in an assistant message: only text and refusal are allowed.", p.Type)
			}
		}
	}
	if len(blocks) == 0 && m.Refusal != nil && *m.Refusal != "" {
		blocks = append(blocks, anthBlock{Type: "text", Text: *m.Refusal})
		stringContent = false
	}
	textBlocks := len(blocks)
	for j, tc := range m.ToolCalls {
		tp := fmt.Sprintf("%s.tool_calls[%d]", param, j)
		if tc.Type != "" && tc.Type != "function" {
			return anthMessage{}, "", reqErr(tp+".type", "Unsupported tool call type '%s': only function tool calls can be translated.", tc.Type)
		}
		if tc.ID == "" {
			return anthMessage{}, "", reqErr(tp+".id", "Missing required parameter: '%s.id'.", tp)
		}
		if tc.Function.Name == "" {
			return anthMessage{}, "", reqErr(tp+".function.name", "Missing required parameter: '%s.function.name'.", tp)
		}
		input, err := parseArguments(tc.Function.Arguments, tp+".function.arguments")
		if err != nil {
			return anthMessage{}, "", err
		}
		blocks = append(blocks, anthBlock{Type: "tool_use", ID: sanitizeToolID(tc.ID), Name: tc.Function.Name, Input: input})
	}
	fnID := ""
	if fc := m.FunctionCall; fc != nil && fc.Name != "" {
		input, err := parseArguments(fc.Arguments, param+".function_call.arguments")
		if err != nil {
			return anthMessage{}, "", err
		}
		fnID = fmt.Sprintf("call_fn_%d", index)
		blocks = append(blocks, anthBlock{Type: "tool_use", ID: fnID, Name: fc.Name, Input: input})
	}
	switch {
	case len(blocks) == 0:
		return anthMessage{Role: "assistant"}, fnID, nil
	case stringContent && textBlocks == len(blocks):
		return anthMessage{Role: "assistant", Content: text}, fnID, nil
	}
	return anthMessage{Role: "assistant", Content: blocks}, fnID, nil
}

// parseArguments turns a tool call's arguments into tool_use input. The
// arguments are a JSON string holding a JSON object ("" or absent means {});
// a bare JSON object is accepted as well. Anything else is a 400.
func parseArguments(raw json.RawMessage, param string) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '{' {
		return raw, nil // already validated by the request's Unmarshal
	}
	var args string
	if !isNull(raw) {
		if raw[0] != '"' || json.Unmarshal(raw, &args) != nil {
			return nil, reqErr(param, "Invalid '%s': the tool call arguments must be a JSON object encoded as a string.", param)
		}
	}
	s := strings.TrimSpace(args)
	if s == "" {
		return json.RawMessage("{}"), nil
	}
	if s[0] != '{' || !json.Valid([]byte(s)) {
		return nil, reqErr(param, "Invalid '%s': the tool call arguments must be a JSON object encoded as a string.", param)
	}
	return json.RawMessage(s), nil
}

func toolResultContent(raw json.RawMessage, param string) (any, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case isNull(raw):
		return emptyString, nil
	case raw[0] == '"':
		return raw, nil // as in userContent
	}
	parts, err := decodeParts(raw, param)
	if err != nil {
		return nil, err
	}
	blocks := make([]anthBlock, 0, len(parts))
	for j, p := range parts {
		if p.Type != "text" {
			return nil, reqErr(fmt.Sprintf("%s.content[%d].type", param, j), "Unsupported content part type '%s' in a tool message: only text is allowed.", p.Type)
		}
		if p.Text != "" {
			blocks = append(blocks, anthBlock{Type: "text", Text: p.Text})
		}
	}
	if len(blocks) == 0 {
		return emptyString, nil
	}
	return blocks, nil
}

var emptyString = json.RawMessage(`""`)

// sanitizeToolID maps an id onto Anthropic's ^[a-zA-Z0-9_-]+$, replacing any
// other byte with "_". Ids that already match (OpenAI's call_…, Anthropic's
// toolu_…) are returned unchanged.
func sanitizeToolID(id string) string {
	ok := func(c byte) bool {
		return c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	for i := 0; i < len(id); i++ {
		if !ok(id[i]) {
			b := []byte(id)
			for j := i; j < len(b); j++ {
				if !ok(b[j]) {
					b[j] = '_'
				}
			}
			return string(b)
		}
	}
	return id
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

func kindName(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Pointer:
		return kindName(t.Elem())
	}
	return "another type"
}
