package translate

import (
	"bytes"
	"encoding/json"
	"fmt"
)

func (r *OpenAIRequest) convertTools(in *oaiRequest) error {
	a := &r.anth
	for i, t := range in.Tools {
		if t.Type != "" && t.Type != "function" {
			return reqErr(fmt.Sprintf("tools[%d].type", i), "Unsupported tool type '%s': only function tools can be translated.", t.Type)
		}
		tool, err := convertFunctionDef(t.Function, fmt.Sprintf("tools[%d].function", i))
		if err != nil {
			return err
		}
		a.Tools = append(a.Tools, tool)
	}
	for i, f := range in.Functions { // legacy
		tool, err := convertFunctionDef(f, fmt.Sprintf("functions[%d]", i))
		if err != nil {
			return err
		}
		a.Tools = append(a.Tools, tool)
	}

	choiceRaw, param := in.ToolChoice, "tool_choice"
	if isNull(choiceRaw) {
		choiceRaw, param = in.FunctionCall, "function_call"
	}
	var choice *anthToolChoice
	if !isNull(choiceRaw) {
		c, err := convertToolChoice(choiceRaw, param)
		if err != nil {
			return err
		}
		choice = c
	}
	if in.ParallelToolCalls != nil && !*in.ParallelToolCalls {
		if choice == nil {
			choice = &anthToolChoice{Type: "auto"}
		}
		if choice.Type != "none" {
			choice.DisableParallelToolUse = true
		}
	}
	if len(a.Tools) > 0 {
		a.ToolChoice = choice
	}
	return nil
}

func convertFunctionDef(f oaiFunctionDef, param string) (anthTool, error) {
	if f.Name == "" {
		return anthTool{}, reqErr(param+".name", "Missing required parameter: '%s.name'.", param)
	}
	schema := bytes.TrimSpace(f.Parameters)
	switch {
	case isNull(schema):
		schema = json.RawMessage(`{"type":"object","properties":{}}`)
	case schema[0] != '{':
		return anthTool{}, reqErr(param+".parameters", "Invalid type for '%s.parameters': expected a JSON schema object.", param)
	default:
		var top map[string]json.RawMessage
		if err := json.Unmarshal(schema, &top); err != nil {
			return anthTool{}, reqErr(param+".parameters", "Invalid '%s.parameters': expected a JSON schema object.", param)
		}
		if _, ok := top["type"]; !ok {
			inner := bytes.TrimSpace(schema[1:])
			if len(top) == 0 {
				schema = json.RawMessage(`{"type":"object","properties":{}}`)
			} else {
				schema = append([]byte(`{"type":"object",`), inner...)
			}
		}
	}
	return anthTool{Name: f.Name, Description: f.Description, InputSchema: schema}, nil
}

func convertToolChoice(raw json.RawMessage, param string) (*anthToolChoice, error) {
	raw = bytes.TrimSpace(raw)
	if raw[0] == '"' {
		var s string
		_ = json.Unmarshal(raw, &s)
		switch s {
		case "auto":
			return &anthToolChoice{Type: "auto"}, nil
		case "none":
			return &anthToolChoice{Type: "none"}, nil
		case "required":
			return &anthToolChoice{Type: "any"}, nil
		}
		return nil, reqErr(param, "Invalid value for '%s': expected 'auto', 'none', 'required' or a named function.", param)
	}
	var obj struct {
		Type     string `json:"type"`
		Name     string `json:"name"` // legacy function_call: {"name": ...}
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, reqErr(param, "Invalid type for '%s': expected a string or an object.", param)
	}
	name := obj.Function.Name
	if name == "" {
		name = obj.Name
	}
	if (obj.Type != "" && obj.Type != "function") || name == "" {
		return nil, reqErr(param, "Unsupported '%s': only 'auto', 'none', 'required' and {\"type\":\"function\",\"function\":{\"name\":...}} can be translated.", param)
	}
	return &anthToolChoice{Type: "tool", Name: name}, nil
}
