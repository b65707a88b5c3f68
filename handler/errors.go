package handler

import (
	"encoding/json"
	"net/http"
)

// flavor is the wire format of a route: it decides the error shape and how
// the credential is presented upstream.
type flavor int

const (
	anthropicFlavor flavor = iota
	openAIFlavor
)

// writeError answers with an error the gateway made itself, in the route's own
// error shape. Messages are written for people and never carry Go errors.
func writeError(w http.ResponseWriter, fl flavor, status int, message string) {
	var body []byte
	if fl == openAIFlavor {
		type oaiError struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Param   *string `json:"param"`
			Code    *string `json:"code"`
		}
		body, _ = json.Marshal(struct {
			Error oaiError `json:"error"`
		}{oaiError{Message: message, Type: openAIErrorType(status)}})
	} else {
		type anthError struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		}
		body, _ = json.Marshal(struct {
			Type  string    `json:"type"`
			Error anthError `json:"error"`
		}{"error", anthError{anthropicErrorType(status), message}})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Lore-Error", "1")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func anthropicErrorType(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusRequestTimeout: // the API's type for 4xx it does not list
		return "invalid_request_error"
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusNotFound:
		return "not_found_error"
	default:
		return "api_error"
	}
}

func openAIErrorType(status int) string {
	if status == http.StatusUnauthorized {
		return "authentication_error"
	}
	if status < 500 {
		return "invalid_request_error"
	}
	return "server_error"
}
