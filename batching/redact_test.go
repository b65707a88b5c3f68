package batching

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestStatusErrorsRedacted: what a failed batch call keeps of the upstream's
// body (it reaches logs) is an error envelope's message with the credential
// redacted, and nothing of any other body.
func TestStatusErrorsRedacted(t *testing.T) {
	for name, body := range map[string]string{
		"proxy page echoing headers": "<html><body>502 Bad Gateway<pre>x-api-key: " + credA.Value + "\nAuthorization: Bearer " + credA.Value + "</pre></body></html>",
		"plain text":                 "upstream says: key " + credA.Value + " is wrong",
		"envelope quoting the key":   `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key ` + credA.Value + `"}}`,
	} {
		resp := &http.Response{StatusCode: 502, Body: io.NopCloser(strings.NewReader(body)), Header: http.Header{}}
		err := checkStatus(resp, credA)
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		if msg := err.Error(); strings.Contains(msg, credA.Value) || strings.Contains(msg, "<html") || strings.Contains(msg, "upstream says") {
			t.Fatalf("%s: error keeps upstream bytes: %q", name, msg)
		}
	}
	resp := &http.Response{StatusCode: 401, Body: io.NopCloser(strings.NewReader(`{"type":"error","error":{"type":"authentication_error","message":"bad key ` + credA.Value + `"}}`))}
	if msg := checkStatus(resp, credA).Error(); !strings.Contains(msg, "authentication_error") || !strings.Contains(msg, "bad key [redacted]") {
		t.Fatalf("envelope message lost or not redacted: %q", msg)
	}
}
